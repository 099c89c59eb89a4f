package portal

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	alerting "github.com/barbossa-agent/barbossa/core/alert"
	"github.com/barbossa-agent/barbossa/sdk"
)

// Alerting is the alert engine as the portal uses it: its state for GET
// /api/v1/alerts, and silences. core/alert's Engine implements it.
type Alerting interface {
	Status() alerting.Status
	AddSilence(alerting.Silence) (alerting.Silence, error)
	DeleteSilence(id string) error
}

// maxSilenceBody bounds a silence request: a few matchers and a comment.
const maxSilenceBody = 16 << 10

// handleAlerts serves GET /api/v1/alerts: every alert pending, firing or
// recently resolved, every rule (with "no data"), silences, receivers.
func (s *Server) handleAlerts(w http.ResponseWriter, r *http.Request) {
	var st alerting.Status
	if s.cfg.Alerts != nil {
		st = s.cfg.Alerts.Status()
	}
	writeJSON(w, r, http.StatusOK, newAlertsBody(st))
}

// silenceRequest is POST /api/v1/silences's body: matchers, and how long
// (duration) or until when (ends_at).
type silenceRequest struct {
	Matchers  map[string]string `json:"matchers"`
	StartsAt  *time.Time        `json:"starts_at"`
	EndsAt    *time.Time        `json:"ends_at"`
	Duration  string            `json:"duration"`
	Comment   string            `json:"comment"`
	CreatedBy string            `json:"created_by"`
}

// handleSilences serves POST /api/v1/silences. Like actions, it needs a
// token configured and sent: a silence stops people from being told.
func (s *Server) handleSilences(w http.ResponseWriter, r *http.Request) {
	if !methodIs(w, r, http.MethodPost) {
		return
	}
	if !s.alertWrites(w, r) {
		return
	}
	var req silenceRequest
	err := decodeOne(http.MaxBytesReader(w, r.Body, maxSilenceBody), &req)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		writeError(w, r, http.StatusRequestEntityTooLarge, fmt.Errorf("body: over %d bytes", maxSilenceBody), "")
		return
	}
	if err != nil {
		writeError(w, r, http.StatusBadRequest, fmt.Errorf(`body: want one {"matchers": {"alertname": "disk-full"}, "duration": "2h", "comment": "..."}: %w`, err), "")
		return
	}
	sil := alerting.Silence{Matchers: req.Matchers, Comment: req.Comment, CreatedBy: req.CreatedBy}
	if sil.CreatedBy == "" {
		sil.CreatedBy = r.RemoteAddr
	}
	if req.StartsAt != nil {
		sil.StartsAt = *req.StartsAt
	}
	switch {
	case req.EndsAt != nil && req.Duration != "":
		writeError(w, r, http.StatusBadRequest, errors.New("duration or ends_at, not both"), "")
		return
	case req.EndsAt != nil:
		sil.EndsAt = *req.EndsAt
	case req.Duration != "":
		d, err := sdk.ParseDuration(req.Duration)
		if err != nil || d <= 0 || d > alerting.MaxSilence {
			writeError(w, r, http.StatusBadRequest, fmt.Errorf("duration: %q: want a duration such as 30m, 2h or 1d, at most %s", req.Duration, sdk.FormatDuration(alerting.MaxSilence)), "")
			return
		}
		start := sil.StartsAt
		if start.IsZero() {
			start = time.Now()
		}
		sil.EndsAt = start.Add(d)
	default:
		writeError(w, r, http.StatusBadRequest, errors.New("duration (\"2h\") or ends_at (RFC 3339) is required"), "")
		return
	}
	kept, err := s.cfg.Alerts.AddSilence(sil)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, err, "")
		return
	}
	s.log.Info("silence added", "remote", r.RemoteAddr, "id", kept.ID, "matchers", kept.Matchers, "ends_at", kept.EndsAt)
	writeJSON(w, r, http.StatusCreated, newSilenceView(kept))
}

// handleSilence serves DELETE /api/v1/silences/{id}.
func (s *Server) handleSilence(w http.ResponseWriter, r *http.Request) {
	if !methodIs(w, r, http.MethodDelete) {
		return
	}
	if !s.alertWrites(w, r) {
		return
	}
	id := mux.Vars(r)["id"]
	if err := s.cfg.Alerts.DeleteSilence(id); err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, alerting.ErrNoSilence) {
			status = http.StatusNotFound
		}
		writeError(w, r, status, err, "")
		return
	}
	s.log.Info("silence deleted", "remote", r.RemoteAddr, "id", id)
	writeJSON(w, r, http.StatusOK, silenceDeleted{Deleted: true, ID: id})
}

// silenceDeleted is DELETE /api/v1/silences/{id}'s answer, its keys in
// the order they have always had.
type silenceDeleted struct {
	Deleted bool   `json:"deleted"`
	ID      string `json:"id"`
}

// alertWrites refuses a silence change unless a token is configured (the
// middleware has checked it was sent) and the body is JSON: a form a
// page posts cross-site carries neither.
func (s *Server) alertWrites(w http.ResponseWriter, r *http.Request) bool {
	if s.cfg.Token == "" {
		writeError(w, r, http.StatusForbidden, errors.New("silences need a token: set [portal] token (or token_file) and send it as Authorization: Bearer <token>"), "")
		return false
	}
	if s.cfg.Alerts == nil {
		writeError(w, r, http.StatusNotFound, errors.New("alerting is not running in this agent"), "")
		return false
	}
	if r.Method == http.MethodPost {
		ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
		if !strings.EqualFold(strings.TrimSpace(ct), "application/json") {
			writeError(w, r, http.StatusUnsupportedMediaType, errors.New("Content-Type: want application/json"), "")
			return false
		}
	}
	return true
}
