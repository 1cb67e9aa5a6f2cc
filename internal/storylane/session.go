package storylane

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/valyala/fastjson"
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
// missing or empty "id" makes a payload unusable. Keys match exactly (a
// "Lead" is not a "lead", which encoding/json would take it for). It is
// strict about the text: a body that is not I-JSON is not a session, so no
// reader can take it for another one. A consumer reads stored events with
// it; a webhook is read by a Reader, which checks the schema as well.
func Parse(raw []byte) (Session, error) {
	var p Parser
	return p.Parse(raw)
}

// Parser is Parse with memory reused from one payload to the next. It is
// not safe for concurrent use (a ParserPool shares parsers); its zero value
// is ready.
type Parser struct {
	p fastjson.Parser
}

// Parse is the package's Parse.
func (p *Parser) Parse(raw []byte) (Session, error) {
	v, err := decode(&p.p, raw)
	if err != nil {
		return Session{}, fmt.Errorf("%w: %w", ErrNotSession, err)
	}
	return readSession(v)
}

// CheckIJSON reports why raw is not one I-JSON value (an error wrapping
// ErrNotIJSON, or one saying it is not JSON), or nil: the check every
// payload passes before it is a session, for a caller that must hold other
// data to the same rule.
func (p *Parser) CheckIJSON(raw []byte) error {
	_, err := decode(&p.p, raw)
	return err
}

// ParserPool hands out Parsers to concurrent callers; its zero value is
// ready.
type ParserPool struct {
	pool sync.Pool
}

// Get returns a parser from the pool, or a new one.
func (pp *ParserPool) Get() *Parser {
	if p, ok := pp.pool.Get().(*Parser); ok {
		return p
	}
	return &Parser{}
}

// Put gives p back; p must not be used after.
func (pp *ParserPool) Put(p *Parser) { pp.pool.Put(p) }

// readSession is the one walk of a session's fields: every reader of a
// payload parsed by decode, the Reader's included, goes through it.
func readSession(v *fastjson.Value) (Session, error) {
	var s Session
	err := eachField(v, func(key []byte, f *fastjson.Value) error {
		var err error
		switch string(key) {
		case "id":
			s.ID, err = str(f)
		case "buyer_reveal":
			s.BuyerReveal, err = buyerReveal(f)
		case "lead":
			s.Lead, err = lead(f)
		case "name":
			s.Name, err = str(f)
		case "link":
			s.Link, err = str(f)
		case "viewed_at":
			s.ViewedAt, err = str(f)
		case "completion":
			s.Completion, err = number(f)
		case "time_spent":
			s.TimeSpent, err = number(f)
		case "checklist_completed":
			s.ChecklistCompleted, err = boolean(f)
		case "cta_opened":
			s.CTAOpened, err = str(f)
		case "analytics_url":
			s.AnalyticsURL, err = str(f)
		case "utm_params":
			s.UTMParams, err = stringMap(f)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", string(key), err)
		}
		return nil
	})
	if err != nil {
		return Session{}, fmt.Errorf("%w: %w", ErrNotSession, err)
	}
	if s.ID == "" {
		return Session{}, fmt.Errorf("%w: missing id", ErrNotSession)
	}
	return s, nil
}

func buyerReveal(v *fastjson.Value) (*BuyerReveal, error) {
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	b := &BuyerReveal{}
	err := eachField(v, func(key []byte, f *fastjson.Value) error {
		var err error
		switch string(key) {
		case "company_name":
			b.CompanyName, err = str(f)
		case "company_domain":
			b.CompanyDomain, err = str(f)
		case "company_annual_revenue_range":
			b.CompanyAnnualRevenueRange, err = str(f)
		case "company_employee_range":
			b.CompanyEmployeeRange, err = str(f)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", string(key), err)
		}
		return nil
	})
	return b, err
}

func lead(v *fastjson.Value) (*Lead, error) {
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	l := &Lead{}
	err := eachField(v, func(key []byte, f *fastjson.Value) error {
		var err error
		switch string(key) {
		case "id":
			l.ID, err = str(f)
		case "client_source":
			l.ClientSource, err = str(f)
		case "client_tracking_id":
			l.ClientTrackingID = nil
			if f.Type() != fastjson.TypeNull {
				var s string
				s, err = str(f)
				l.ClientTrackingID = &s
			}
		case "email":
			l.Email, err = str(f)
		case "first_name":
			l.FirstName, err = str(f)
		case "last_name":
			l.LastName, err = str(f)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", string(key), err)
		}
		return nil
	})
	return l, err
}

// eachField calls fn for each key of the object v, in order. decode takes
// no key twice, but a value built otherwise may hold one: then the last
// occurrence is the one kept, as with encoding/json, and an error counts
// only when no later occurrence of its key mends it.
func eachField(v *fastjson.Value, fn func(key []byte, f *fastjson.Value) error) error {
	o, err := v.Object()
	if err != nil {
		return errors.New("not an object")
	}
	var failed map[string]error // rare, so made only when needed
	var order []string
	o.Visit(func(k []byte, f *fastjson.Value) {
		err := fn(k, f)
		switch {
		case err != nil:
			if failed == nil {
				failed = map[string]error{}
			}
			order = append(order, string(k))
			failed[string(k)] = err
		case failed != nil:
			delete(failed, string(k))
		}
	})
	for _, k := range order {
		if err, ok := failed[k]; ok {
			return err
		}
	}
	return nil
}

// str reads a string; null reads as "".
func str(v *fastjson.Value) (string, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return "", nil
	case fastjson.TypeString:
		b, _ := v.StringBytes()
		return string(b), nil
	}
	return "", fmt.Errorf("want a string, got %s", v.Type())
}

// number reads a number as written; null reads as "".
func number(v *fastjson.Value) (json.Number, error) {
	switch v.Type() {
	case fastjson.TypeNull:
		return "", nil
	case fastjson.TypeNumber:
		return json.Number(v.MarshalTo(nil)), nil
	}
	return "", fmt.Errorf("want a number, got %s", v.Type())
}

func boolean(v *fastjson.Value) (bool, error) {
	switch v.Type() {
	case fastjson.TypeNull, fastjson.TypeFalse:
		return false, nil
	case fastjson.TypeTrue:
		return true, nil
	}
	return false, fmt.Errorf("want a boolean, got %s", v.Type())
}

// stringMap reads an object of strings (or nulls, read as "").
func stringMap(v *fastjson.Value) (map[string]string, error) {
	if v.Type() == fastjson.TypeNull {
		return nil, nil
	}
	m := map[string]string{}
	err := eachField(v, func(key []byte, f *fastjson.Value) error {
		s, err := str(f)
		if err != nil {
			return fmt.Errorf("%s: %w", string(key), err)
		}
		m[string(key)] = s
		return nil
	})
	return m, err
}

// Known reports whether Storylane identified the lead or the visitor's
// account: "lead" or "buyer_reveal" is present and not null.
func (s Session) Known() bool {
	return s.Lead != nil || s.BuyerReveal != nil
}

// ViewedTime is viewed_at as a time, and false when it is absent, not an
// RFC 3339 timestamp, or the zero time.
func (s Session) ViewedTime() (time.Time, bool) { return s.Summary().ViewedTime() }
