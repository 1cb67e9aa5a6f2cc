package storylane_test

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
)

// vector is one line of testdata/signatures.tsv, made independently with
// openssl dgst -sha256 -hmac "$SECRET" -binary FILE | base64 -w0.
type vector struct {
	file, secret, signature string
}

func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "signatures.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	sc.Scan() // header line
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) != 3 {
			t.Fatalf("signatures.tsv: line %q has %d columns, want 3", sc.Text(), len(cols))
		}
		out = append(out, vector{cols[0], cols[1], cols[2]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatal("signatures.tsv holds no vectors")
	}
	return out
}

// example reads one of Storylane's example payloads, kept byte for byte
// in schemas/examples.
func example(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "schemas", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignMatchesOpensslVectors(t *testing.T) {
	t.Parallel()
	for _, v := range readVectors(t) {
		body := example(t, v.file)
		if got := storylane.Sign(body, []byte(v.secret)); got != v.signature {
			t.Errorf("Sign(%s, %s) = %s, want %s", v.file, v.secret, got, v.signature)
		}
	}
}

func TestVerifyVectors(t *testing.T) {
	t.Parallel()
	vectors := readVectors(t)
	secrets := map[string]bool{}
	for _, v := range vectors {
		secrets[v.secret] = true
	}
	for _, v := range vectors {
		body := example(t, v.file)
		alone, err := storylane.NewKeyring(v.secret)
		if err != nil {
			t.Fatal(err)
		}
		if i, err := alone.Verify(body, v.signature); err != nil || i != 0 {
			t.Errorf("Verify(%s, %s) = %d, %v, want 0, nil", v.file, v.signature, i, err)
		}
		for other := range secrets {
			if other == v.secret {
				continue
			}
			k, _ := storylane.NewKeyring(other)
			if _, err := k.Verify(body, v.signature); !errors.Is(err, storylane.ErrBadSignature) {
				t.Errorf("Verify(%s, %s) under %s = %v, want %v", v.file, v.signature, other, err, storylane.ErrBadSignature)
			}
		}
	}
}

func TestVerifyRotation(t *testing.T) {
	t.Parallel()
	body := example(t, "known.json")
	k, err := storylane.NewKeyring("whsec_test_secret", "rotated-secret-2")
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range []string{
		"lBArux/d/3yC66HID2DspizQTbfMu/VLP9y8R7AZUds=",
		"Xvba0toJPE65jME1eMcR0R4a+4gPz05gJaz6n5HcQu4=",
	} {
		if got, err := k.Verify(body, v); err != nil || got != i {
			t.Errorf("Verify(known, %s) = %d, %v, want %d, nil", v, got, err, i)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	body := example(t, "unknown.json")
	k, _ := storylane.NewKeyring("whsec_test_secret")
	good := "U7fHHRDhbo26280D9Iv0GehO8RGEZHCbridj3nq7dkk="
	tests := []struct {
		name, header string
		body         []byte
		want         error
	}{
		{"missing", "", body, storylane.ErrNoSignature},
		{"blank", "   ", body, storylane.ErrMalformedSignature},
		{"padded", " " + good, body, storylane.ErrMalformedSignature},
		{"not base64", strings.Repeat("!", 44), body, storylane.ErrMalformedSignature},
		{"url alphabet", "U7fHHRDhbo26280D9Iv0GehO8RGEZHCbridj3nq7dkk_", body, storylane.ErrMalformedSignature},
		{"unpadded", strings.TrimSuffix(good, "="), body, storylane.ErrMalformedSignature},
		{"too short", good[:40] + "====", body, storylane.ErrMalformedSignature},
		{"too long", good + "AAAA", body, storylane.ErrMalformedSignature},
		{"hex digest", strings.Repeat("ab", 32), body, storylane.ErrMalformedSignature},
		{"non-canonical padding bits", good[:42] + "l=", body, storylane.ErrMalformedSignature},
		{"other body", good, append([]byte(nil), body[:len(body)-1]...), storylane.ErrBadSignature},
		{"one bit off", "V" + good[1:], body, storylane.ErrBadSignature},
		{"signature of another file", "lBArux/d/3yC66HID2DspizQTbfMu/VLP9y8R7AZUds=", body, storylane.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := k.Verify(tt.body, tt.header); !errors.Is(err, tt.want) {
				t.Errorf("Verify(body, %q) = %v, want %v", tt.header, err, tt.want)
			}
		})
	}
}

func TestNewKeyringRefusesEmpty(t *testing.T) {
	t.Parallel()
	if _, err := storylane.NewKeyring(); !errors.Is(err, storylane.ErrNoSecrets) {
		t.Errorf("NewKeyring() = %v, want %v", err, storylane.ErrNoSecrets)
	}
	if _, err := storylane.NewKeyring("a", ""); err == nil {
		t.Error(`NewKeyring("a", "") = nil error, want an error`)
	}
}

func TestKeyringStringHidesSecrets(t *testing.T) {
	t.Parallel()
	k, _ := storylane.NewKeyring("whsec_test_secret")
	if got := k.String(); strings.Contains(got, "whsec") {
		t.Errorf("Keyring.String() = %q, want no secret in it", got)
	}
}

func FuzzVerify(f *testing.F) {
	for _, file := range []string{"known.json", "unknown.json"} {
		f.Add(example(f, file), "lBArux/d/3yC66HID2DspizQTbfMu/VLP9y8R7AZUds=")
	}
	f.Add([]byte("{}"), "")
	f.Add([]byte(""), "not base64 at all")
	k, _ := storylane.NewKeyring("whsec_test_secret", "rotated-secret-2")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		i, err := k.Verify(body, header)
		if err == nil && (header != storylane.Sign(body, []byte("whsec_test_secret")) || i != 0) &&
			(header != storylane.Sign(body, []byte("rotated-secret-2")) || i != 1) {
			t.Fatalf("Verify(%q, %q) = %d, nil for a header that is no valid signature", body, header, i)
		}
		// A body's own signature always verifies, and a changed body never does.
		sig := k.Sign(body)
		if i, err := k.Verify(body, sig); err != nil || i != 0 {
			t.Fatalf("Verify(%q, Sign(body)) = %d, %v, want 0, nil", body, i, err)
		}
		if _, err := k.Verify(append(body, 'x'), sig); err == nil {
			t.Fatalf("Verify(%q+x, Sign(body)) = nil, want an error", body)
		}
	})
}
