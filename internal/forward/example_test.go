package forward_test

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/storylane-bridge/storylane-bridge/internal/forward"
)

// Signature is what a target signed with a secret receives in
// Webhook-Signature (after "v1,"): the Standard Webhooks HMAC-SHA256 of the
// Webhook-Id (the event id), the Webhook-Timestamp (Unix seconds) and the
// HTTP body, joined by dots. A whsec_ secret is base64 after its prefix.
// The values are the Standard Webhooks specification's own test vector, so
// any of its libraries verifies a delivery.
func ExampleSignature() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		panic(err)
	}
	id, timestamp, body := "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`)

	fmt.Println("v1," + forward.Signature(key, id, timestamp, body))
	// Output: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
}
