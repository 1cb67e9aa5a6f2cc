package storylane_test

import (
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

func BenchmarkVerify(b *testing.B) {
	body := example(b, "known.json")
	k, _ := storylane.NewKeyring("whsec_test_secret", "rotated-secret-2")
	sig := storylane.Sign(body, []byte("rotated-secret-2")) // the second key: both are tried
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Verify(body, sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	body := example(b, "known.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := storylane.Parse(body)
		if err != nil || !s.Known() {
			b.Fatal(err)
		}
	}
}

// BenchmarkParserParse reads the whole session with a reused parser, as a
// consumer does.
func BenchmarkParserParse(b *testing.B) {
	body := example(b, "known.json")
	var p storylane.Parser
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s, err := p.Parse(body)
		if err != nil || !s.Known() {
			b.Fatal(err)
		}
	}
}
