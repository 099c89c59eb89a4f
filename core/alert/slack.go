package alert

import (
	"context"
	"encoding/json"
	"unicode/utf8"
)

// slack posts to an incoming webhook in Slack's format, Mattermost's
// (Slack's, which it accepts) or Discord's.
type slack struct {
	*httpPost
	common
	format, channel, username string
}

// discordMax is the longest content Discord accepts.
const discordMax = 2000

func (s *slack) send(ctx context.Context, m *Message) error {
	msg := "*" + title(m, s.host) + "*\n" + text(m, s.externalURL)
	var body any
	switch s.format {
	case "discord":
		msg = "**" + title(m, s.host) + "**\n" + text(m, s.externalURL)
		body = struct {
			Content  string `json:"content"`
			Username string `json:"username,omitempty"`
		}{truncate(msg, discordMax), s.username}
	default: // slack, mattermost
		body = struct {
			Text     string `json:"text"`
			Channel  string `json:"channel,omitempty"`
			Username string `json:"username,omitempty"`
		}{msg, s.channel, s.username}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	return s.post(ctx, "application/json", b, nil)
}

// truncate cuts s to at most n characters, marking the cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
