package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/storylane-bridge/storylane-bridge/internal/cli"
	"github.com/storylane-bridge/storylane-bridge/internal/keyring"
	"github.com/storylane-bridge/storylane-bridge/internal/storylane"
	"github.com/storylane-bridge/storylane-bridge/schemas"
)

const synopsis = `Signs a Storylane webhook payload with the webhook secret, as Storylane does,
and POSTs it to a bridge, printing the status and the answer. The payload is a
built-in sample (--sample known or unknown, Storylane's own examples) or a
file (--file). Exits 0 when the bridge answers 2xx. The secret is the first
of $STORYLANE_WEBHOOK_SECRET or the first line of --secret-file.`

type config struct {
	url, sample, file, secretFile string
	timeout                       time.Duration
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var c config
	f := cli.NewFlagSet("storylane-send", synopsis, stdout)
	f.StringVar(&c.url, "url", "BRIDGE_URL", "http://127.0.0.1:8080/webhooks/storylane", "webhook `URL` of the bridge")
	f.StringVar(&c.sample, "sample", "SEND_SAMPLE", "known", "built-in payload to send: known or unknown")
	f.StringVar(&c.file, "file", "SEND_FILE", "", "send this payload `file` instead of a sample, byte for byte")
	f.StringVar(&c.secretFile, "secret-file", "STORYLANE_WEBHOOK_SECRET_FILE", "", "`file` of webhook secrets; the first line signs")
	f.DurationVar(&c.timeout, "timeout", "SEND_TIMEOUT", 10*time.Second, "how long to wait for the answer")
	f.EnvOnly("STORYLANE_WEBHOOK_SECRET", "webhook secret(s), comma-separated; the first signs")
	if err := f.Parse(args, getenv); err != nil {
		return err
	}
	secret, err := keyring.SigningSecret(c.secretFile, getenv)
	if err != nil {
		return err
	}
	body, err := payload(c)
	if err != nil {
		return err
	}
	return send(ctx, c, body, storylane.Sign(body, []byte(secret)), stdout)
}

func payload(c config) ([]byte, error) {
	if c.file != "" {
		b, err := os.ReadFile(c.file)
		if err != nil {
			return nil, fmt.Errorf("%w: read payload: %w", cli.ErrUsage, err)
		}
		return b, nil
	}
	b, err := schemas.Example(c.sample)
	if err != nil {
		return nil, fmt.Errorf("%w: --sample %q: want known or unknown", cli.ErrUsage, c.sample)
	}
	return b, nil
}

func send(ctx context.Context, c config, body []byte, signature string, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: --url %q: %w", cli.ErrUsage, c.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(storylane.SignatureHeader, signature)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("post to %s: %w", c.url, err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read answer from %s: %w", c.url, err)
	}
	fmt.Fprintf(stdout, "%s %s\n%s", res.Proto, res.Status, answer)
	if len(answer) > 0 && answer[len(answer)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("the bridge answered %s", res.Status)
	}
	return nil
}
