// Package cli is the command-line plumbing every binary shares: flags that
// each have an environment-variable form, the common flag groups (NATS
// connection, stream, logging), the logger, and exit codes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/usage"
)

// ErrUsage marks a configuration mistake; commands exit with status 2.
// It is usage.Err, which the packages below cli mark their errors with.
var ErrUsage = usage.Err

// FlagSet is a flag.FlagSet in which every flag may also be set from an
// environment variable. A flag given on the command line wins over its
// variable, which wins over the default.
//
// It wraps the standard library rather than a flags-and-env library because
// those read os.Getenv directly, and commands here take getenv as an
// argument so tests can run them in-process.
type FlagSet struct {
	fs       *flag.FlagSet
	out      io.Writer
	synopsis string
	env      map[string]string // flag name → variable
	envOnly  [][2]string       // variable, description
	checks   []func() error    // run once the values are read
}

// NewFlagSet returns an empty flag set for the named command; help goes to out.
func NewFlagSet(name, synopsis string, out io.Writer) *FlagSet {
	f := &FlagSet{fs: flag.NewFlagSet(name, flag.ContinueOnError), out: out, synopsis: synopsis, env: map[string]string{}}
	f.fs.SetOutput(io.Discard)
	return f
}

// StringVar defines a string flag and its variable.
func (f *FlagSet) StringVar(p *string, name, env, value, usage string) {
	f.fs.StringVar(p, name, value, usage)
	f.env[name] = env
}

// DurationVar defines a duration flag and its variable.
func (f *FlagSet) DurationVar(p *time.Duration, name, env string, value time.Duration, usage string) {
	f.fs.DurationVar(p, name, value, usage)
	f.env[name] = env
}

// IntVar defines an int flag and its variable.
func (f *FlagSet) IntVar(p *int, name, env string, value int, usage string) {
	f.fs.IntVar(p, name, value, usage)
	f.env[name] = env
}

// Int64Var defines an int64 flag and its variable.
func (f *FlagSet) Int64Var(p *int64, name, env string, value int64, usage string) {
	f.fs.Int64Var(p, name, value, usage)
	f.env[name] = env
}

// BoolVar defines a bool flag and its variable.
func (f *FlagSet) BoolVar(p *bool, name, env string, value bool, usage string) {
	f.fs.BoolVar(p, name, value, usage)
	f.env[name] = env
}

// EnvOnly documents a variable that has no flag, such as a secret that must
// not appear in a process listing.
func (f *FlagSet) EnvOnly(name, usage string) {
	f.envOnly = append(f.envOnly, [2]string{name, usage})
}

// Check adds a test of the parsed values that Parse runs last, so that a
// group of flags shared by every command is validated the same in each;
// its error is a usage error.
func (f *FlagSet) Check(check func() error) {
	f.checks = append(f.checks, check)
}

// Parse reads args, then the variables of the flags args did not set, then
// runs the checks. It returns flag.ErrHelp after printing help for
// -h/--help, and an error wrapping ErrUsage for anything it cannot read or
// a check refuses.
func (f *FlagSet) Parse(args []string, getenv func(string) string) error {
	if err := f.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			f.PrintHelp()
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: %w (see --help)", ErrUsage, err)
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q (see --help)", ErrUsage, f.fs.Arg(0))
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var errs []error
	f.fs.VisitAll(func(fl *flag.Flag) {
		env := f.env[fl.Name]
		if set[fl.Name] || env == "" {
			return
		}
		if v := getenv(env); v != "" {
			if err := fl.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s=%q: %w", ErrUsage, env, v, err))
			}
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, check := range f.checks {
		if err := check(); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrUsage, err))
		}
	}
	return errors.Join(errs...)
}

// PrintHelp writes the synopsis, each flag with its variable and default,
// and the variables without a flag.
func (f *FlagSet) PrintHelp() {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n%s\n\nFlags (each can also be set by the environment variable in brackets):\n", f.fs.Name(), f.synopsis)
	f.fs.VisitAll(func(fl *flag.Flag) {
		typ, usage := flag.UnquoteUsage(fl)
		fmt.Fprintf(&b, "  --%s %s  [$%s]\n        %s", fl.Name, typ, f.env[fl.Name], usage)
		if fl.DefValue != "" && fl.DefValue != "0" && fl.DefValue != "false" && fl.DefValue != "0s" {
			fmt.Fprintf(&b, " (default %q)", fl.DefValue)
		}
		b.WriteString("\n")
	})
	if len(f.envOnly) > 0 {
		b.WriteString("\nEnvironment only:\n")
		for _, e := range f.envOnly {
			fmt.Fprintf(&b, "  $%s\n        %s\n", e[0], e[1])
		}
	}
	io.WriteString(f.out, b.String())
}

// Exit turns the error a command's run returned into its exit status,
// printing it to stderr first: 0 for success and help, 2 for usage
// mistakes, 1 for everything else.
func Exit(stderr io.Writer, command string, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(stderr, "%s: %v\n", command, err)
		return 2
	default:
		fmt.Fprintf(stderr, "%s: %v\n", command, err)
		return 1
	}
}

// Main is the whole main function of a command: it runs run with the
// process's arguments, environment and stdout, cancelling its context on
// SIGINT or SIGTERM, and exits with the status Exit gives.
func Main(command string, run func(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, the default behaviour again: a second
		// one ends a shutdown that takes too long.
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(Exit(os.Stderr, command, err))
}

// Float64Var defines a float64 flag and its variable.
func (f *FlagSet) Float64Var(p *float64, name, env string, value float64, usage string) {
	f.fs.Float64Var(p, name, value, usage)
	f.env[name] = env
}
