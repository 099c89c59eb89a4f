package alert

import (
	"context"
	"strings"
)

// ntfy publishes the message to an ntfy topic (url is the server and the
// topic: https://ntfy.sh/my-alerts) as plain text, with a title, a
// priority and tags.
type ntfy struct {
	*httpPost
	common
	priority string
}

func (n *ntfy) send(ctx context.Context, m *Message) error {
	headers := map[string]string{"Title": title(m, n.host)}
	prio := n.priority
	tags := "white_check_mark"
	if m.Firing() > 0 {
		tags = "rotating_light"
		if prio == "" {
			prio = "default"
			for i := range m.Alerts {
				if m.Alerts[i].State == StateFiring && m.Alerts[i].Severity == "critical" {
					prio = "high"
				}
			}
		}
	}
	if m.Test {
		tags += ",test_tube"
	}
	if prio != "" {
		headers["Priority"] = prio
	}
	headers["Tags"] = tags
	if n.externalURL != "" {
		headers["Click"] = strings.TrimSuffix(n.externalURL, "/") + "/api/v1/alerts"
	}
	return n.post(ctx, "text/plain; charset=utf-8", []byte(text(m, "")), headers)
}
