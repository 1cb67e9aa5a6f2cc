// Command barebridge is the baseline of the benchmark suite: the least a
// Storylane-to-JetStream bridge can do, written by hand with nothing else.
// net/http, the HMAC check, PublishMsg with Nats-Msg-Id, wait for the ack,
// answer. No validation, classification, CloudEvent, metrics, logging,
// limits or graceful shutdown: storylane-bridge is measured against it.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address")
	url := flag.String("nats", nats.DefaultURL, "NATS URL")
	flag.Parse()
	secret := []byte(os.Getenv("STORYLANE_WEBHOOK_SECRET"))
	nc, err := nats.Connect(*url)
	if err != nil {
		log.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "STORYLANE", Subjects: []string{"storylane.>"}, Duplicates: time.Hour})
	cancel()
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("POST /webhooks/storylane", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		m := hmac.New(sha256.New, secret)
		m.Write(body)
		want := base64.StdEncoding.EncodeToString(m.Sum(nil))
		if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Storylane-Signature"))) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		sum := sha256.Sum256(body)
		msg := &nats.Msg{Subject: "storylane.session.unknown", Data: body, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, hex.EncodeToString(sum[:]))
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		ack, err := js.PublishMsg(ctx, msg)
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, `{"seq":%d}`, ack.Sequence)
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening", ln.Addr())
	log.Fatal(http.Serve(ln, nil))
}
