package storylane

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// SignatureHeader is the request header that carries the body's signature.
const SignatureHeader = "X-Storylane-Signature"

// Outcomes of Verify that a caller acts on. None of them says anything about
// the expected signature or the secrets.
var (
	ErrNoSignature        = errors.New("missing signature")
	ErrMalformedSignature = errors.New("malformed signature")
	ErrBadSignature       = errors.New("signature does not match")
	ErrNoSecrets          = errors.New("no webhook secret configured")
)

// Keyring holds every webhook secret accepted at once, so a secret can be
// rotated without rejecting webhooks signed with the previous one.
type Keyring struct {
	keys [][]byte
}

// NewKeyring returns a keyring of the given secrets, in order. Empty
// secrets are refused: an empty HMAC key would accept forged webhooks.
func NewKeyring(secrets ...string) (*Keyring, error) {
	if len(secrets) == 0 {
		return nil, ErrNoSecrets
	}
	k := &Keyring{keys: make([][]byte, 0, len(secrets))}
	for i, s := range secrets {
		if s == "" {
			return nil, fmt.Errorf("secret %d is empty", i+1)
		}
		k.keys = append(k.keys, []byte(s))
	}
	return k, nil
}

// Len is the number of active secrets.
func (k *Keyring) Len() int { return len(k.keys) }

// String never shows a secret, so a keyring printed by mistake leaks nothing.
func (k *Keyring) String() string { return fmt.Sprintf("Keyring(%d secrets)", len(k.keys)) }

// Sign returns the x-storylane-signature value of body under the first
// secret: base64(HMAC-SHA256(body, secret)).
func (k *Keyring) Sign(body []byte) string {
	return Sign(body, k.keys[0])
}

// Sign returns base64(HMAC-SHA256(body, secret)), the value Storylane puts
// in x-storylane-signature.
func Sign(body, secret []byte) string {
	return base64.StdEncoding.EncodeToString(mac(body, secret))
}

// Verify checks header, the x-storylane-signature value, against body under
// every secret and returns the position of the secret that matched. The
// header is decoded strictly (standard base64 of exactly one SHA-256) before
// any HMAC is computed, and digests are compared in constant time.
func (k *Keyring) Verify(body []byte, header string) (int, error) {
	if header == "" {
		return -1, ErrNoSignature
	}
	got, err := decodeSignature(header)
	if err != nil {
		return -1, err
	}
	match := -1
	// Every key is tried so the time taken does not depend on which matched.
	for i, key := range k.keys {
		if hmac.Equal(got, mac(body, key)) && match < 0 {
			match = i
		}
	}
	if match < 0 {
		return -1, ErrBadSignature
	}
	return match, nil
}

func decodeSignature(header string) ([]byte, error) {
	if len(header) != base64.StdEncoding.EncodedLen(sha256.Size) {
		return nil, ErrMalformedSignature
	}
	got, err := base64.StdEncoding.Strict().DecodeString(header)
	if err != nil || len(got) != sha256.Size {
		return nil, ErrMalformedSignature
	}
	return got, nil
}

func mac(body, key []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(body)
	return h.Sum(nil)
}
