package cli

import (
	"fmt"
	"strings"
	"time"
)

// DurationList is a flag value of comma-separated durations, such as a
// retry schedule: "1s,5s,30s".
type DurationList []time.Duration

// String implements flag.Value.
func (d *DurationList) String() string {
	parts := make([]string, len(*d))
	for i, v := range *d {
		parts[i] = v.String()
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value; it replaces the whole list.
func (d *DurationList) Set(s string) error {
	var out DurationList
	for _, p := range strings.Split(s, ",") {
		v, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil {
			return err
		}
		if v <= 0 {
			return fmt.Errorf("duration %s is not positive", v)
		}
		out = append(out, v)
	}
	*d = out
	return nil
}

// DurationListVar defines a list-of-durations flag and its variable.
func (f *FlagSet) DurationListVar(p *DurationList, name, env string, value []time.Duration, usage string) {
	*p = append(DurationList(nil), value...)
	f.fs.Var(p, name, usage)
	f.env[name] = env
}

// StringList is a flag value of comma-separated words, blanks trimmed and
// empty items dropped.
type StringList []string

// String implements flag.Value.
func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value; it replaces the whole list.
func (l *StringList) Set(s string) error {
	var out StringList
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*l = out
	return nil
}

// StringListVar defines a list-of-words flag and its variable.
func (f *FlagSet) StringListVar(p *StringList, name, env, usage string) {
	f.fs.Var(p, name, usage)
	f.env[name] = env
}
