package ingress_test

import (
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/ingress"
)

func TestParsePrefixes(t *testing.T) {
	t.Parallel()
	got, err := ingress.ParsePrefixes([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "198.51.100.0/24"}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("ParsePrefixes()[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if _, err := ingress.ParsePrefixes([]string{"not-an-address"}); err == nil {
		t.Error("ParsePrefixes(not-an-address) = nil error, want an error")
	}
}
