package deploy_test

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// dockerBuild returns the go build command of the Dockerfile's build stage.
func dockerBuild(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ReplaceAll(string(b), "\\\n", " ")
	for _, line := range strings.Split(joined, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "RUN ") || !strings.Contains(line, "go build") {
			continue
		}
		for _, part := range strings.Split(strings.TrimPrefix(line, "RUN "), "&&") {
			if strings.Contains(part, "go build") {
				return strings.TrimSpace(part)
			}
		}
	}
	t.Fatal("the Dockerfile has no RUN ... go build line")
	return ""
}

// TestDockerfileBuildsStaticBinaries runs the Dockerfile's own build
// command (no Docker engine runs on our build machines) and checks that
// every binary it makes is static: no interpreter, no shared libraries,
// as the distroless static image requires.
func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every command; skipped with -short")
	}
	t.Parallel()
	cmd := dockerBuild(t)
	if !strings.Contains(cmd, "CGO_ENABLED=0") || !strings.Contains(cmd, "-o /out/ ./cmd/...") {
		t.Fatalf("Dockerfile build %q, want CGO_ENABLED=0 and -o /out/ ./cmd/...", cmd)
	}
	out := t.TempDir()
	run := exec.Command("sh", "-c", strings.Replace(cmd, "/out/", out+"/", 1))
	run.Dir = ".."
	if b, err := run.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, b)
	}
	cmds, _ := filepath.Glob("../cmd/*")
	for _, c := range cmds {
		bin := filepath.Join(out, filepath.Base(c))
		f, err := elf.Open(bin)
		if err != nil {
			t.Errorf("%s was not built: %v", filepath.Base(c), err)
			continue
		}
		libs, _ := f.ImportedLibraries()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s has an ELF interpreter: it is not static", filepath.Base(c))
			}
		}
		if len(libs) > 0 {
			t.Errorf("%s needs shared libraries %v", filepath.Base(c), libs)
		}
		f.Close()
	}
}

// TestDockerfileStateDirs: each directory the image's ENV gives a program
// (…_DIR) is made in the build stage, copied owned by the nonroot user, so
// that a fresh volume mounted on it is writable, and declared a VOLUME.
func TestDockerfileStateDirs(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	file := string(b)
	dirs := regexp.MustCompile(`[A-Z_]+_DIR=(/[a-z]+)`).FindAllStringSubmatch(file, -1)
	if len(dirs) < 3 {
		t.Fatalf("the Dockerfile's ENV names %d directories, want the bridge's, session-archive's and session-stats'", len(dirs))
	}
	for _, m := range dirs {
		d := regexp.QuoteMeta(m[1])
		for what, re := range map[string]string{
			"made":                    `mkdir -p [/a-z ]*` + d + `\b`,
			"copied owned by nonroot": `(?m)^COPY --from=build --chown=65532:65532 ` + d + ` ` + d + `$`,
			"a VOLUME":                `(?m)^VOLUME \[.*"` + d + `"`,
		} {
			if !regexp.MustCompile(re).MatchString(file) {
				t.Errorf("the Dockerfile's %s is not %s", m[1], what)
			}
		}
	}
}
