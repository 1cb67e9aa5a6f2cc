// Package docs_test holds the README and docs/ to what the code does: every
// relative link resolves, every flag an example gives one of the binaries
// exists in its --help, and the README's signed sample runs as shown.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/storylane-bridge/storylane-bridge/internal/clitest"
)

// bin is the directory of the built commands.
var bin string

func TestMain(m *testing.M) { os.Exit(clitest.MainWithBinaries(m, &bin)) }

// root is the repository's root, seen from this package's directory.
const root = ".."

// page is a Markdown file read into what the tests check.
type page struct {
	path     string // relative to root, with slashes
	anchors  map[string]bool
	links    []link
	blocks   []block
	headings []string
}

type link struct {
	line   int
	target string
}

// block is a fenced code block.
type block struct {
	line  int // of its first content line
	lang  string
	lines []string
}

// pages reads README.md and every Markdown file under docs/.
func pages(t *testing.T) []*page {
	t.Helper()
	paths := []string{"README.md"}
	err := filepath.WalkDir(filepath.Join(root, "docs"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".md") {
			rel, _ := filepath.Rel(root, p)
			paths = append(paths, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []*page
	for _, p := range paths {
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, parse(p, string(b)))
	}
	return out
}

var (
	fence    = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([A-Za-z0-9_+-]*)")
	heading  = regexp.MustCompile(`^(#{1,6})\s+(.*?)(\s+#+)?\s*$`)
	codeSpan = regexp.MustCompile("`[^`]*`")
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
)

// parse reads the headings, links and fenced blocks of a Markdown file;
// nothing inside a fenced block is a heading or a link.
func parse(path, text string) *page {
	p := &page{path: path, anchors: map[string]bool{}}
	seen := map[string]int{}
	var open *block
	var marker string
	for i, line := range strings.Split(text, "\n") {
		if m := fence.FindStringSubmatch(line); m != nil {
			if open == nil {
				open, marker = &block{line: i + 2, lang: m[2]}, m[1]
				continue
			}
			if strings.HasPrefix(strings.TrimSpace(line), marker) && m[2] == "" {
				p.blocks = append(p.blocks, *open)
				open = nil
				continue
			}
		}
		if open != nil {
			open.lines = append(open.lines, line)
			continue
		}
		if m := heading.FindStringSubmatch(line); m != nil {
			p.headings = append(p.headings, m[2])
			a := anchor(m[2])
			if n := seen[a]; n > 0 {
				seen[a]++
				a = a + "-" + strconv.Itoa(n)
			} else {
				seen[a] = 1
			}
			p.anchors[a] = true
		}
		for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, "``"), -1) {
			p.links = append(p.links, link{line: i + 1, target: m[1]})
		}
	}
	return p
}

var linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)

// anchor is the id GitHub gives a heading: its text as rendered (link
// targets and markup gone), lower-cased, every character that is not a
// letter, a digit, a mark, '-' or '_' dropped, and each space a hyphen.
func anchor(text string) string {
	text = linkText.ReplaceAllString(text, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestAnchor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Reading events with the `nats` CLI":                  "reading-events-with-the-nats-cli",
		"Consuming from Node.js":                              "consuming-from-nodejs",
		"The contract (AsyncAPI)":                             "the-contract-asyncapi",
		"Memory under large bodies: `--max-buffered-bytes`":   "memory-under-large-bodies---max-buffered-bytes",
		"What makes it fast, and what it costs":               "what-makes-it-fast-and-what-it-costs",
		"See [the rule](events.md#decoding-the-headers) here": "see-the-rule-here",
		"Ünïcode_names ×2":                                    "ünïcode_names-2",
	} {
		if got := anchor(in); got != want {
			t.Errorf("anchor(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLinksResolve: every relative link of README.md and docs/ names a file
// or directory of the repository and, with a #fragment into a Markdown
// file, one of its headings.
func TestLinksResolve(t *testing.T) {
	t.Parallel()
	all := pages(t)
	byPath := map[string]*page{}
	for _, p := range all {
		byPath[p.path] = p
	}
	n := 0
	for _, p := range all {
		for _, l := range p.links {
			if strings.Contains(l.target, "://") || strings.HasPrefix(l.target, "mailto:") {
				continue
			}
			n++
			if msg := resolve(p, l.target, byPath); msg != "" {
				t.Errorf("%s:%d: link %s: %s", p.path, l.line, l.target, msg)
			}
		}
	}
	if n < 50 {
		t.Errorf("found %d relative links in README.md and docs/, want the many there are", n)
	}
}

// resolve says what is wrong with a relative link target of p, or "".
func resolve(p *page, target string, byPath map[string]*page) string {
	file, frag, _ := strings.Cut(target, "#")
	path := p.path
	if file != "" {
		path = filepath.ToSlash(filepath.Clean(filepath.Join(filepath.Dir(p.path), file)))
		if path == ".." || strings.HasPrefix(path, "../") {
			return "outside the repository"
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(path))); err != nil {
			return "no such file or directory"
		}
	}
	if frag == "" {
		return ""
	}
	target2, ok := byPath[path]
	if !ok {
		if !strings.HasSuffix(path, ".md") {
			return "an anchor into a file that is not Markdown"
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(path)))
		if err != nil {
			return err.Error()
		}
		target2 = parse(path, string(b))
	}
	if !target2.anchors[frag] {
		return "no heading of " + path + " has the anchor #" + frag
	}
	return ""
}
