package storylane

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrDeep reports valid JSON that fastjson does not parse: nested deeper
// than its limit (fastjson.MaxDepth, 300 levels). encoding/json goes much
// deeper, so such a payload is read by parseDeep instead: slower, but no
// schema-valid webhook is refused for the parser's sake.
var ErrDeep = errors.New("nested deeper than fastjson parses")

// parseDeep is Parse on encoding/json, for the rare payload Decode cannot
// take. It reads what Parse reads: exact keys, the last of a key given
// twice.
func parseDeep(raw []byte) (Session, error) {
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
