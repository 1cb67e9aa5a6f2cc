package deploy_test

import (
	"bufio"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// runbookBase is how every runbook_url starts: Alertmanager and Grafana
// show the URL outside the repository, so it is absolute, on the default
// branch, so that it always opens the current page.
const runbookBase = "https://github.com/storylane-bridge/storylane-bridge/blob/main/"

// TestAlertRunbooks: every alert's runbook_url names a page under
// docs/runbooks that exists in this repository and is about that alert.
func TestAlertRunbooks(t *testing.T) {
	t.Parallel()
	groups, errs := rulefmt.ParseFile("observability/alerts.yaml", false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		t.Fatalf("observability/alerts.yaml: %v", errs)
	}
	n := 0
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			url := r.Annotations["runbook_url"]
			want := runbookBase + "docs/runbooks/" + r.Alert + ".md"
			if url != want {
				t.Errorf("alert %s: runbook_url = %q, want %q", r.Alert, url, want)
				continue
			}
			path := filepath.Join("..", filepath.FromSlash(strings.TrimPrefix(url, runbookBase)))
			title, err := firstLine(path)
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
			} else if title != "# "+r.Alert {
				t.Errorf("alert %s: %s starts with %q, want the title %q", r.Alert, path, title, "# "+r.Alert)
			}
		}
	}
	if n == 0 {
		t.Error("observability/alerts.yaml has no alerts")
	}
}

// firstLine is the first line of the file at path.
func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Scan()
	return s.Text(), s.Err()
}
