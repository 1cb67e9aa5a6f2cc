package docs_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
)

// command is one command of a shell example, where it was written.
type command struct {
	where string
	env   []string // NAME=value words before the command
	words []string
}

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// binary is the command of ours that c runs, "go run ./cmd/x" or "x"
// itself, and its arguments; ok is false for any other command.
func (c command) binary(ours map[string]bool) (name string, args []string, ok bool) {
	w := c.words
	if len(w) >= 3 && w[0] == "go" && w[1] == "run" && strings.HasPrefix(w[2], "./cmd/") {
		return strings.TrimPrefix(w[2], "./cmd/"), w[3:], true
	}
	if len(w) >= 1 && ours[w[0]] {
		return w[0], w[1:], true
	}
	return "", nil, false
}

// shellCommands splits the lines of a sh block into commands: lines ending
// in a backslash continue, '#' starts a comment, and ';', '&' and '|'
// separate commands. Quotes group words as the shell does (no expansion).
func shellCommands(where string, lines []string) []command {
	var out []command
	joined := ""
	for _, line := range lines {
		if strings.HasSuffix(line, `\`) {
			joined += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		for _, words := range splitWords(joined + line) {
			c := command{where: where}
			for len(words) > 0 && assignment.MatchString(words[0]) {
				c.env, words = append(c.env, words[0]), words[1:]
			}
			if len(words) > 0 {
				c.words = words
				out = append(out, c)
			}
		}
		joined = ""
	}
	return out
}

// splitWords reads one shell line into the words of each command on it.
func splitWords(line string) [][]string {
	var cmds [][]string
	var words []string
	var word strings.Builder
	inWord := false
	end := func() {
		if inWord {
			words = append(words, word.String())
			word.Reset()
			inWord = false
		}
	}
	var quote rune
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if quote == '"' && r == '\\' && i+1 < len(rs) {
				i++
				word.WriteRune(rs[i])
			} else {
				word.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == '\\' && i+1 < len(rs):
			i++
			word.WriteRune(rs[i])
			inWord = true
		case r == '#' && !inWord:
			i = len(rs)
		case r == ' ' || r == '\t':
			end()
		case r == ';' || r == '&' || r == '|':
			end()
			if len(words) > 0 {
				cmds = append(cmds, words)
			}
			words = nil
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	end()
	if len(words) > 0 {
		cmds = append(cmds, words)
	}
	return cmds
}

func TestSplitWords(t *testing.T) {
	t.Parallel()
	got := splitWords(`A=1 go run ./cmd/x --f 'a b' "c \"d\"" e\ f   # a comment; not a command`)
	want := [][]string{{"A=1", "go", "run", "./cmd/x", "--f", "a b", `c "d"`, "e f"}}
	if !equalWords(got, want) {
		t.Errorf("splitWords = %q, want %q", got, want)
	}
	got = splitWords(`nats-server -js & x --a && y --b | z`)
	want = [][]string{{"nats-server", "-js"}, {"x", "--a"}, {"y", "--b"}, {"z"}}
	if !equalWords(got, want) {
		t.Errorf("splitWords = %q, want %q", got, want)
	}
}

func equalWords(a, b [][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if strings.Join(a[i], "\x00") != strings.Join(b[i], "\x00") {
			return false
		}
	}
	return true
}

// shellBlock reports whether a fenced block's language is a shell's.
func shellBlock(lang string) bool {
	return lang == "sh" || lang == "bash" || lang == "shell" || lang == "console"
}

// helps runs every built command's --help.
func helps(t *testing.T) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, "cmd"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, _ := exec.Command(filepath.Join(bin, e.Name()), "--help").CombinedOutput()
		if !strings.Contains(string(b), "Usage: "+e.Name()) {
			t.Fatalf("%s --help printed no usage:\n%s", e.Name(), b)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// TestExampleFlags: every flag and variable that a shell example of
// README.md or docs/ gives one of our commands is in that command's --help,
// so that no example can name a flag that is gone.
func TestExampleFlags(t *testing.T) {
	t.Parallel()
	help := helps(t)
	ours := map[string]bool{}
	for name := range help {
		ours[name] = true
	}
	checked := 0
	for _, p := range pages(t) {
		for _, b := range p.blocks {
			if !shellBlock(b.lang) {
				continue
			}
			for _, c := range shellCommands(p.path+":"+strconv.Itoa(b.line), b.lines) {
				name, args, ok := c.binary(ours)
				if !ok {
					continue
				}
				checked++
				for _, problem := range unknownSettings(help[name], c.env, args) {
					t.Errorf("%s: %s %s: %s", c.where, name, strings.Join(args, " "), problem)
				}
			}
		}
	}
	t.Logf("checked %d example commands against --help", checked)
	if checked < 15 {
		t.Errorf("checked %d example commands, want the many there are", checked)
	}
}

// unknownSettings lists the flags and variables of an example that help
// does not list (Go's own GO* variables aside).
func unknownSettings(help string, env, args []string) []string {
	var out []string
	for _, a := range args {
		if !strings.HasPrefix(a, "--") || a == "--help" {
			continue
		}
		name, _, _ := strings.Cut(a, "=")
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + `\b`).MatchString(help) {
			out = append(out, "no flag "+name)
		}
	}
	for _, e := range env {
		name, _, _ := strings.Cut(e, "=")
		if !strings.HasPrefix(name, "GO") && !strings.Contains(help, "$"+name) {
			out = append(out, "no variable "+name)
		}
	}
	return out
}

// transcript is a command of an example followed by the output it shows,
// as "# " lines.
type transcript struct {
	command
	want []string
}

// transcripts reads the examples that show their output.
func transcripts(p *page, b block) []transcript {
	var out []transcript
	var pending []string
	flush := func() {
		for _, c := range shellCommands(p.path+":"+strconv.Itoa(b.line), pending) {
			out = append(out, transcript{command: c})
		}
		pending = nil
	}
	for _, line := range b.lines {
		switch {
		case strings.HasPrefix(line, "# ") || line == "#":
			flush()
			if len(out) > 0 {
				out[len(out)-1].want = append(out[len(out)-1].want, strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
			}
		case strings.TrimSpace(line) == "":
			flush()
		default:
			pending = append(pending, line)
		}
	}
	flush()
	return out
}

var requestID = regexp.MustCompile(`"request_id":"[^"]*"`)

// TestExampleTranscripts runs, against the README's own bridge command,
// every example of README.md and docs/ that shows its output, and compares
// what it prints and its exit status with what the example shows. Only
// storylane-send's examples can run here: any other is reported.
func TestExampleTranscripts(t *testing.T) {
	t.Parallel()
	ours := map[string]bool{"storylane-send": true, "storylane-bridge": true}
	var bridge *command
	var runs []transcript
	for _, p := range pages(t) {
		for _, b := range p.blocks {
			if !shellBlock(b.lang) {
				continue
			}
			for _, c := range shellCommands(p.path, b.lines) {
				if name, _, ok := c.binary(ours); ok && name == "storylane-bridge" && bridge == nil && p.path == "README.md" {
					bridge = &c
				}
			}
			for _, tr := range transcripts(p, b) {
				if len(tr.want) == 0 {
					continue
				}
				if name, _, ok := tr.binary(ours); !ok || name != "storylane-send" {
					t.Errorf("%s: %q shows its output but is not run by this test", tr.where, strings.Join(tr.words, " "))
					continue
				}
				runs = append(runs, tr)
			}
		}
	}
	if bridge == nil || len(runs) < 3 {
		t.Fatalf("README.md: bridge command %v, %d storylane-send examples with their output; want both", bridge, len(runs))
	}
	_, args, _ := bridge.binary(ours)
	args = append(args, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--nats-listen", "none")
	b := clitest.StartProcess(t, filepath.Join(bin, "storylane-bridge"), bridge.env, args...)
	addr, _ := b.Logs.Wait(t, "listening")["addr"].(string)
	url := "http://" + addr + "/webhooks/storylane"
	for _, tr := range runs {
		_, args, _ := tr.binary(ours)
		cmd := exec.Command(filepath.Join(bin, "storylane-send"), append(args, "--url", url)...)
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, tr.env...)
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		status := 0
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatal(err)
			}
			status = ee.ExitCode()
		}
		got := requestID.ReplaceAllString(strings.TrimRight(stdout.String(), "\n"), `"request_id":"…"`)
		want := requestID.ReplaceAllString(strings.Join(tr.want, "\n"), `"request_id":"…"`)
		if got != want {
			t.Errorf("%s: %s printed\n%s\nwant\n%s", tr.where, strings.Join(tr.words, " "), got, want)
		}
		if wantStatus := exitStatus(tr.want); status != wantStatus {
			t.Errorf("%s: %s exited %d, want %d", tr.where, strings.Join(tr.words, " "), status, wantStatus)
		}
	}
}

// exitStatus is storylane-send's exit status for the answer shown: 0 for a
// 2xx, 1 for any other.
func exitStatus(shown []string) int {
	if len(shown) > 0 && strings.HasPrefix(shown[0], "HTTP/1.1 2") {
		return 0
	}
	return 1
}

// TestGoExamples compiles every Go example of README.md and docs/ against
// this module's dependencies: a program as it is, and a block that starts
// with its imports as the body of a package. Nothing is written into the
// source tree: the go command reads each from a build overlay.
func TestGoExamples(t *testing.T) {
	t.Parallel()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pages(t) {
		for _, b := range p.blocks {
			if b.lang != "go" {
				continue
			}
			src := strings.Join(b.lines, "\n")
			switch {
			case strings.HasPrefix(src, "package main\n"):
			case strings.HasPrefix(src, "import ("):
				src = "package example\n\n" + src
			default:
				t.Errorf("%s:%d: a Go example is a program or starts with its imports", p.path, b.line)
				continue
			}
			n++
			pkg := "zz_example" + strconv.Itoa(n)
			file := filepath.Join(t.TempDir(), "example.go")
			overlay := filepath.Join(t.TempDir(), "overlay.json")
			if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			spec := `{"Replace":{` + strconv.Quote(filepath.Join(dir, pkg, "example.go")) + `:` + strconv.Quote(file) + `}}`
			if err := os.WriteFile(overlay, []byte(spec), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("go", "build", "-overlay", overlay, "-o", os.DevNull, "./"+pkg).CombinedOutput(); err != nil {
				t.Errorf("%s:%d: the Go example does not compile: %v\n%s", p.path, b.line, err, out)
			}
		}
	}
	if n < 2 {
		t.Errorf("compiled %d Go examples, want those of docs/events.md", n)
	}
}

// checkPython parses a Python example and lists the modules it imports
// that are neither the standard library's nor nats-py's.
const checkPython = `
import ast, sys
tree = ast.parse(sys.stdin.read())
mods = set()
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        mods.update(a.name.split(".")[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
        mods.add(node.module.split(".")[0])
print(" ".join(sorted(m for m in mods if m not in sys.stdlib_module_names and m != "nats")))
`

// TestPythonExamples: every Python example parses, imports only the
// standard library and nats-py, and decodes attributes by the rule
// (urllib.parse.unquote, strictly). nats-py is not installed here, so the
// examples are checked, not run.
func TestPythonExamples(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("python3"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("python3 is needed to check the Python examples")
		}
		t.Skip("python3 is not installed")
	}
	n := 0
	for _, p := range pages(t) {
		for _, b := range p.blocks {
			if b.lang != "python" {
				continue
			}
			n++
			src := strings.Join(b.lines, "\n")
			cmd := exec.Command("python3", "-c", checkPython)
			cmd.Stdin = strings.NewReader(src)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s:%d: the Python example does not parse: %v\n%s", p.path, b.line, err, out)
				continue
			}
			if others := strings.TrimSpace(string(out)); others != "" {
				t.Errorf("%s:%d: the Python example imports %s, want the standard library and nats-py only", p.path, b.line, others)
			}
			if strings.Contains(src, "ce-") && !strings.Contains(src, `unquote(`) || strings.Contains(src, "unquote_plus") || strings.Contains(src, "unquote(") && !strings.Contains(src, `errors="strict"`) {
				t.Errorf("%s:%d: the Python example reads ce- headers without urllib.parse.unquote(v, errors=\"strict\")", p.path, b.line)
			}
		}
	}
	if n < 1 {
		t.Errorf("checked %d Python examples, want the one of docs/events.md", n)
	}
}
