package storylane_test

import (
	"testing"

	"github.com/valyala/fastjson"

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

// BenchmarkDecodeSummarize is what the bridge reads of a webhook: parsed
// once by a parser reused from its pool, summarized for routing.
func BenchmarkDecodeSummarize(b *testing.B) {
	body := example(b, "known.json")
	var p fastjson.Parser
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := storylane.Decode(&p, body)
		if err != nil {
			b.Fatal(err)
		}
		s, err := storylane.Summarize(v)
		if err != nil || !s.Known {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFromValue reads the whole session from a reused parser,
// as a consumer might.
func BenchmarkDecodeFromValue(b *testing.B) {
	body := example(b, "known.json")
	var p fastjson.Parser
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		v, err := storylane.Decode(&p, body)
		if err != nil {
			b.Fatal(err)
		}
		s, err := storylane.FromValue(v)
		if err != nil || !s.Known() {
			b.Fatal(err)
		}
	}
}
