package alert

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"

	mail "github.com/wneessen/go-mail"

	"github.com/barbossa-agent/barbossa/core/config"
)

// email sends the message as a plain-text mail over SMTP: STARTTLS
// (mandatory unless tls = "none"), or TLS from the start (tls = "tls",
// port 465), and authentication when a username is set.
type email struct {
	common
	host string
	opts []mail.Option
	from string
	to   []string
}

func newEmail(n config.Notify, s secrets, tlsConfig *tls.Config, c common) (*email, error) {
	host, portText, err := net.SplitHostPort(n.SMTP)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("smtp: port %q: %w", portText, err)
	}
	tc := tlsConfig.Clone()
	tc.ServerName = host
	opts := []mail.Option{mail.WithPort(port), mail.WithTLSConfig(tc), mail.WithTimeout(n.Timeout.Duration)}
	switch n.TLS {
	case "tls":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if n.Username != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(n.Username), mail.WithPassword(s.password))
	}
	return &email{common: c, host: host, opts: opts, from: n.From, to: n.To}, nil
}

func (e *email) send(ctx context.Context, m *Message) error {
	msg := mail.NewMsg()
	if err := msg.From(e.from); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if err := msg.To(e.to...); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	msg.Subject(title(m, e.common.host))
	msg.SetDate()
	msg.SetMessageID()
	msg.SetGenHeader(mail.Header("X-Barbossa-Status"), m.Status())
	msg.SetBodyString(mail.TypeTextPlain, text(m, e.externalURL))
	client, err := mail.NewClient(e.host, e.opts...)
	if err != nil {
		return err
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s: %w", e.host, err)
	}
	return nil
}
