package clitest

import (
	"io"
	"net/http"
	"testing"
)

// Get GETs url and returns the response, its body read and closed, and
// the body.
func Get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(b)
}

// GetOK is Get of a body that must come with a 200.
func GetOK(t testing.TB, url string) string {
	t.Helper()
	resp, body := Get(t, url)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d %s, want 200", url, resp.StatusCode, body)
	}
	return body
}
