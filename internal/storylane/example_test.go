package storylane_test

import (
	"fmt"

	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

// Verify checks the X-Storylane-Signature header of a body against every
// active secret, so a secret can be rotated: the old and the new one are
// both accepted until the old one is removed. The signature here was made
// with openssl (testdata/signatures.tsv).
func ExampleKeyring_Verify() {
	body, _ := schemas.Example("known")
	keys, err := storylane.NewKeyring("whsec_new_secret", "whsec_test_secret")
	if err != nil {
		panic(err)
	}
	header := "lBArux/d/3yC66HID2DspizQTbfMu/VLP9y8R7AZUds=" // signed with whsec_test_secret

	i, err := keys.Verify(body, header)
	fmt.Println("secret", i, err)
	_, err = keys.Verify(append(body, ' '), header) // one byte more
	fmt.Println(err)
	_, err = keys.Verify(body, "")
	fmt.Println(err)
	// Output:
	// secret 1 <nil>
	// signature does not match
	// missing signature
}

// Read is the one way from a verified body to what routing it takes: the
// body must be I-JSON and match the session schema, and the session is
// known when Storylane identified the lead or the visitor's company.
func ExampleReader_Read() {
	r, err := storylane.NewReader()
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"known", "unknown"} {
		body, _ := schemas.Example(name)
		s, err := r.Read(body)
		fmt.Printf("%s: id %s, known %t, viewed at %s, %v\n", name, s.ID, s.Known, s.ViewedAt, err)
	}
	for _, body := range []string{`{"id":"a","completion":"42"}`, `{"id":"a","id":"b"}`, `{"id":`} {
		_, err := r.Read([]byte(body))
		fmt.Println(err)
	}
	// Output:
	// known: id 2f37f8ce-6ecb-49a2-be12-36ae9c063042, known true, viewed at 2024-05-17T10:58:05.337+00:00, <nil>
	// unknown: id 2f37f8ce-6ecb-49a2-be12-36ae9c063042, known false, viewed at 2024-05-17T10:58:05.337+00:00, <nil>
	// invalid storylane payload: at "/completion": got string, want null or number
	// invalid storylane payload: not I-JSON (RFC 7493): member name "id" given twice in one object
	// invalid storylane payload: not JSON: unexpected EOF
}
