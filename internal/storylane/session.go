package storylane

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrNotSession reports a payload that cannot be read as a session: not a
// JSON object, or one without a non-empty string "id".
var ErrNotSession = errors.New("not a storylane session")

// Session is one demo session as Storylane sends it. Only the documented
// fields are typed here; the raw payload stays the source of truth, so a
// field Storylane adds later is never lost, just not named. Numbers are
// kept as json.Number so that no value the schema accepts fails to parse.
type Session struct {
	ID                 string            `json:"id"`
	BuyerReveal        *BuyerReveal      `json:"buyer_reveal"`
	Lead               *Lead             `json:"lead"`
	Name               string            `json:"name"`
	Link               string            `json:"link"`
	ViewedAt           string            `json:"viewed_at"`
	Completion         json.Number       `json:"completion"`
	TimeSpent          json.Number       `json:"time_spent"`
	ChecklistCompleted bool              `json:"checklist_completed"`
	CTAOpened          string            `json:"cta_opened"`
	AnalyticsURL       string            `json:"analytics_url"`
	UTMParams          map[string]string `json:"utm_params"`
}

// BuyerReveal is the visitor's company as Storylane identified it.
type BuyerReveal struct {
	CompanyName               string `json:"company_name"`
	CompanyDomain             string `json:"company_domain"`
	CompanyAnnualRevenueRange string `json:"company_annual_revenue_range"`
	CompanyEmployeeRange      string `json:"company_employee_range"`
}

// Lead is the person who viewed the demo, when they identified themselves.
// Email is personal data: never log it.
type Lead struct {
	ID               string  `json:"id"`
	ClientSource     string  `json:"client_source"`
	ClientTrackingID *string `json:"client_tracking_id"`
	Email            string  `json:"email"`
	FirstName        string  `json:"first_name"`
	LastName         string  `json:"last_name"`
}

// Parse reads a webhook body into a Session. It is tolerant by design:
// unknown fields are ignored (they stay in the raw body), and only a
// missing or empty "id" makes a payload unusable. Keys match exactly:
// encoding/json alone would read "Lead" as "lead" and call a session known
// that Storylane did not identify.
func Parse(raw []byte) (Session, error) {
	var s Session
	if err := decodeObject(raw, s.fields()); err != nil {
		return Session{}, fmt.Errorf("%w: %w", ErrNotSession, err)
	}
	if s.ID == "" {
		return Session{}, fmt.Errorf("%w: missing id", ErrNotSession)
	}
	return s, nil
}

func (s *Session) fields() map[string]any {
	return map[string]any{
		"id": &s.ID, "buyer_reveal": &s.BuyerReveal, "lead": &s.Lead, "name": &s.Name,
		"link": &s.Link, "viewed_at": &s.ViewedAt, "completion": &s.Completion,
		"time_spent": &s.TimeSpent, "checklist_completed": &s.ChecklistCompleted,
		"cta_opened": &s.CTAOpened, "analytics_url": &s.AnalyticsURL, "utm_params": &s.UTMParams,
	}
}

// UnmarshalJSON matches keys exactly, as Parse does.
func (b *BuyerReveal) UnmarshalJSON(raw []byte) error {
	return decodeObject(raw, map[string]any{
		"company_name": &b.CompanyName, "company_domain": &b.CompanyDomain,
		"company_annual_revenue_range": &b.CompanyAnnualRevenueRange,
		"company_employee_range":       &b.CompanyEmployeeRange,
	})
}

// UnmarshalJSON matches keys exactly, as Parse does.
func (l *Lead) UnmarshalJSON(raw []byte) error {
	return decodeObject(raw, map[string]any{
		"id": &l.ID, "client_source": &l.ClientSource, "client_tracking_id": &l.ClientTrackingID,
		"email": &l.Email, "first_name": &l.FirstName, "last_name": &l.LastName,
	})
}

// decodeObject reads a JSON object and decodes the value of each key named
// in fields into its destination; other keys are ignored.
func decodeObject(raw []byte, fields map[string]any) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return err
	}
	if obj == nil {
		return errors.New("not an object")
	}
	for key, dst := range fields {
		v, ok := obj[key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	return nil
}

// Known reports whether Storylane identified the lead or the visitor's
// account: "lead" or "buyer_reveal" is present and not null.
func (s Session) Known() bool {
	return s.Lead != nil || s.BuyerReveal != nil
}

// ViewedTime is viewed_at as a time, and false when it is absent or not
// an RFC 3339 timestamp.
func (s Session) ViewedTime() (time.Time, bool) {
	if s.ViewedAt == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s.ViewedAt)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}
