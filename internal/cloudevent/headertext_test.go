package cloudevent_test

import (
	"strings"
	"testing"

	"github.com/storylane-bridge/storylane-bridge/internal/cloudevent"
)

// HeaderText replaces ingress's headerSafe and consume's oneLine: the
// inputs of both are here, with what each wrote where they agreed and
// headerSafe's answer where they did not (oneLine kept bytes past ASCII
// and could cut one in half at its bound).
func TestHeaderText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 1500)
	for _, tt := range []struct {
		name, in, want string
	}{
		{"plain", `invalid storylane payload: at "/id": got number, want string`, `invalid storylane payload: at "/id": got number, want string`},
		{"empty", "", ""},
		{"line breaks", "a\r\nb\nc", "a  b c"},
		{"tab and NUL", "a\tb\x00c", "a b c"},
		{"DEL", "a\x7fb", "a b"},
		{"past ASCII (oneLine kept it as is)", "Jo\u00e9 😀", `Jo\u00e9 \U0001f600`},
		{"invalid UTF-8", "a\xffb", `a\ufffdb`},
		{"exactly the bound", long[:1024], long[:1024]},
		{"past the bound (oneLine cut without a mark)", long, long[:1024] + "..."},
		{"escape at the bound", long[:1023] + "é" + "tail", long[:1023] + `\u00e9...`},
		{"control at the bound", long[:1023] + "\n", long[:1023] + " "},
	} {
		got := cloudevent.HeaderText(tt.in)
		if got != tt.want {
			t.Errorf("HeaderText(%s) = %.80q (%d bytes), want %.80q (%d bytes)", tt.name, got, len(got), tt.want, len(tt.want))
		}
		for i := 0; i < len(got); i++ {
			if got[i] < ' ' || got[i] > 0x7e {
				t.Errorf("HeaderText(%s) holds byte %#x at %d, want printable ASCII", tt.name, got[i], i)
			}
		}
	}
}
