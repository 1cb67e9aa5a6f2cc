package clitest

import (
	"os"
	"testing"
)

// ReplaceFile writes content to file by a rename, as an operator rotating
// a watched file should: a process re-reading it meanwhile sees the old
// file or the new one, never half of one.
func ReplaceFile(t testing.TB, file, content string) {
	t.Helper()
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
}
