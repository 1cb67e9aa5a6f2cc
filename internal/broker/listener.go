package broker

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/nats-io/nats-server/v2/server"
)

// ListenerAccess says what the embedded server's client listener lets other
// processes do. The bridge itself always connects in-process, as a user no
// listener client can log in as.
type ListenerAccess struct {
	// Stream and Subjects name what readers may read and where they may
	// put their dead letters.
	Stream   string
	Subjects Subjects
	// ReaderNKey is the public nkey every listener client must present (see
	// ReaderKey); empty lets clients in without credentials, as readers.
	ReaderNKey string
}

// Listener auth modes, the values of the bridge's --nats-listen-auth.
const (
	ListenAuthNone = "none" // readers need no credentials
	ListenAuthNKey = "nkey" // readers need the nkey of ReaderKey's file
)

const (
	ownerUser  = "storylane-bridge"
	readerUser = "reader"

	// nats-server's connection types (jwt.ConnectionType*): a user allowed
	// one only cannot log in through the other.
	connInProcess = "IN_PROCESS"
	connStandard  = "STANDARD"
)

// EventSubjects are the subjects only the bridge may publish: what is on
// them has passed its signature check.
func (s Subjects) EventSubjects() []string {
	return []string{s.Session(true), s.Session(false), s.Invalid()}
}

// ReaderPermissions are what a consumer of stream needs and nothing that
// changes the stream: read through JetStream; inspect the stream and get its
// messages; create, use, acknowledge and delete consumers on it (durables,
// the ordered consumers of storylane-tail and session-archive --replay, the
// nats CLI's); publish dead letters. Not: publish events, create, update,
// purge or delete a stream, delete a message, or answer anyone's request.
// deploy/nats/accounts.conf gives each service a subset of these, held to
// its own durable; a test keeps the two in step.
func ReaderPermissions(stream string, s Subjects) *server.Permissions {
	api := "$JS.API."
	return &server.Permissions{
		Publish: &server.SubjectPermission{
			Allow: []string{
				s.DeadLetter(">"),
				api + "INFO",
				api + "STREAM.NAMES",
				api + "STREAM.LIST",
				api + "STREAM.INFO." + stream,
				api + "STREAM.MSG.GET." + stream,
				api + "DIRECT.GET." + stream,
				api + "DIRECT.GET." + stream + ".>",
				api + "CONSUMER.CREATE." + stream,
				api + "CONSUMER.CREATE." + stream + ".>",
				api + "CONSUMER.DURABLE.CREATE." + stream + ".*",
				api + "CONSUMER.INFO." + stream + ".*",
				api + "CONSUMER.DELETE." + stream + ".*",
				api + "CONSUMER.MSG.NEXT." + stream + ".*",
				api + "CONSUMER.NAMES." + stream,
				api + "CONSUMER.LIST." + stream,
				"$JS.ACK." + stream + ".>",
				"$JS.ACK.*.*." + stream + ".>",
				"$JS.FC." + stream + ".>", // flow control of push consumers (nats sub --stream)
			},
			// Denied as well as not allowed, so that widening the list
			// above can never let a reader forge an event.
			Deny: s.EventSubjects(),
		},
		// Readers see events through JetStream only. A core subscription to
		// the event subjects, or to the bridge's inbox, would show them the
		// reply subjects of the bridge's publishes: a reader could then
		// aim a request's answer at one, as a forged acknowledgement, or
		// learn an event's id while its store is in doubt and take it in
		// the duplicate window with a dead letter.
		Subscribe: &server.SubjectPermission{
			Deny: append(s.EventSubjects(), BridgeInboxPrefix+".>"),
		},
	}
}

// BridgeInboxPrefix is where the bridge's in-process connection gets its
// replies, JetStream's acknowledgements among them: not _INBOX, which
// readers subscribe to for their own.
const BridgeInboxPrefix = "_INBOX_STORYLANE_BRIDGE"

// authOptions sets the users of a guarded server: the owner, reachable
// in-process only with a password that never leaves this process, and the
// readers, with or without an nkey. It returns the owner's password.
func (a *ListenerAccess) authOptions(opts *server.Options) (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	password := hex.EncodeToString(buf)
	opts.Users = []*server.User{{
		Username:               ownerUser,
		Password:               password,
		AllowedConnectionTypes: map[string]struct{}{connInProcess: {}},
	}}
	perms := ReaderPermissions(a.Stream, a.Subjects)
	if a.ReaderNKey != "" {
		opts.Nkeys = []*server.NkeyUser{{Nkey: a.ReaderNKey, Permissions: perms,
			AllowedConnectionTypes: map[string]struct{}{connStandard: {}}}}
		return password, nil
	}
	opts.Users = append(opts.Users, &server.User{Username: readerUser, Permissions: perms,
		AllowedConnectionTypes: map[string]struct{}{connStandard: {}}})
	opts.NoAuthUser = readerUser
	return password, nil
}
