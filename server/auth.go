package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/bailiff/bailiff/pkg/store"
	"github.com/bailiff/bailiff/pkg/trail"
)

// TokenPrefix starts every token, so secret scanners and people recognise one.
const TokenPrefix = "blf_"

// NewToken returns a new bearer token: TokenPrefix and 32 random bytes, base64url.
func NewToken() string {
	secret := make([]byte, 32)
	rand.Read(secret) // never fails: crypto/rand panics rather than return short
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(secret)
}

// HashToken is what the store keeps of a token: "sha256:" and its hex SHA-256.
// Tokens are random 256-bit secrets, so a plain hash cannot be reversed by guessing.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return trail.HashPrefix + hex.EncodeToString(sum[:])
}

// Roles are the roles a credential can hold.
var Roles = []string{store.RoleCluster, store.RoleAuditor, store.RoleAdmin}

// CreateCredential stores a new credential (replacing one of the same name,
// which rotates its token), records who did it in the server's trail, and
// returns the token: the only time it is ever shown.
func CreateCredential(ctx context.Context, st store.Store, req CredentialRequest, by string) (string, error) {
	token := NewToken()
	if err := InstallCredential(ctx, st, req, token, by); err != nil {
		return "", err
	}
	return token, nil
}

// MinTokenLength is the shortest token InstallCredential accepts: 32 characters of a
// random encoding carry enough entropy that the stored plain SHA-256 cannot be guessed back.
const MinTokenLength = 32

// InstallCredential stores a credential whose token the caller chose (a Helm chart's
// generated Secret, a secret manager's), replacing one of the same name, and records
// who did it in the server's trail, as CreateCredential does.
func InstallCredential(ctx context.Context, st store.Store, req CredentialRequest, token, by string) error {
	if err := ValidateCredential(req); err != nil {
		return err
	}
	if len(token) < MinTokenLength {
		return fmt.Errorf("the token has %d characters; use at least %d random ones", len(token), MinTokenLength)
	}
	c := store.Credential{Name: req.Name, Role: req.Role, Cluster: req.Cluster, TokenHash: HashToken(token), CreatedAt: time.Now().UTC()}
	if err := st.PutCredential(ctx, c); err != nil {
		return fmt.Errorf("store credential %s: %w", req.Name, err)
	}
	details := map[string]any{"credential": req.Name, "role": req.Role}
	if req.Cluster != "" {
		details["cluster"] = req.Cluster
	}
	return recordServerEvent(ctx, st, "credential_created", by, details)
}

// DeleteCredential removes a credential (store.ErrNotFound if there is none)
// and records who did it in the server's trail.
func DeleteCredential(ctx context.Context, st store.Store, name, by string) error {
	if err := st.DeleteCredential(ctx, name); err != nil {
		return err
	}
	return recordServerEvent(ctx, st, "credential_deleted", by, map[string]any{"credential": name})
}

// ValidateCredential reports what is wrong with a credential request: a
// missing or overlong name, an unknown role, a cluster credential without its
// cluster or another role with one.
func ValidateCredential(req CredentialRequest) error {
	name, role, cluster := req.Name, req.Role, req.Cluster
	switch {
	case name == "":
		return errors.New("a credential needs a name")
	case len(name) > 253:
		return errors.New("a credential name is at most 253 characters")
	case !slices.Contains(Roles, role):
		return fmt.Errorf("role %q is not one of %s", role, strings.Join(Roles, ", "))
	case role == store.RoleCluster && cluster == "":
		return errors.New("a cluster credential needs the cluster it writes for")
	case role != store.RoleCluster && cluster != "":
		return fmt.Errorf("only cluster credentials name a cluster; a %s credential covers all", role)
	}
	if role == store.RoleCluster {
		return trail.ValidateClusterName(cluster)
	}
	return nil
}

// recordServerEvent appends an event about the server itself to the reserved
// trail.ServerCluster chain, where auditors find credential changes and
// refused requests alongside the clusters' own trails.
func recordServerEvent(ctx context.Context, st store.Store, decision, user string, details map[string]any) error {
	raw, err := json.Marshal(details)
	if err != nil {
		return err
	}
	e := store.Event{
		ID: trail.NewEventID(), Cluster: trail.ServerCluster, Time: trail.NormalizeTime(time.Now()),
		Source: trail.SourceServer, User: user, Decision: decision, Details: raw,
	}
	if _, err := st.AppendEvents(ctx, trail.ServerCluster, []store.Event{e}, trail.Hash); err != nil {
		return fmt.Errorf("record %s in the server trail: %w", decision, err)
	}
	return nil
}

// permission decides whether a credential may call an endpoint.
type permission func(c store.Credential) bool

func mayIngest(c store.Credential) bool {
	return c.Role == store.RoleCluster || c.Role == store.RoleAdmin
}

func mayRead(c store.Credential) bool {
	return c.Role == store.RoleAuditor || c.Role == store.RoleAdmin
}

func mayAdminister(c store.Credential) bool {
	return c.Role == store.RoleAdmin
}

// authedHandler is an endpoint called with the store and the caller's credential.
type authedHandler func(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential)

// authorized authenticates the bearer token, checks the permission and calls h.
// A missing or unknown token is 401; a known one without the permission is
// 403, and recorded.
func (s *Server) authorized(allowed permission, h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := s.currentStore()
		if st == nil {
			writeError(w, http.StatusServiceUnavailable, "the store is not connected yet; try again shortly")
			return
		}
		token, ok := bearerToken(r)
		if !ok {
			s.metrics.authFailures.Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="bailiff"`)
			writeError(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		c, err := st.CredentialByTokenHash(r.Context(), HashToken(token))
		if errors.Is(err, store.ErrNotFound) {
			s.metrics.authFailures.Inc()
			s.log.Warn("unknown bearer token", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Bearer realm="bailiff", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "invalid token")
			return
		}
		if err != nil {
			s.internalError(w, r, err)
			return
		}
		if !allowed(c) {
			s.forbid(w, r, st, c, fmt.Sprintf("a %s credential may not call %s %s", c.Role, r.Method, r.URL.Path), "")
			return
		}
		h(w, r, st, c)
	})
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// forbid answers 403 and records the attempt: in the log, in a metric, and as
// a "forbidden" event in the server's own chain (trail.ServerCluster), so the
// trail shows who tried to write or read what they may not. The record is
// written even if the client hangs up.
func (s *Server) forbid(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential, reason, requestedCluster string) {
	s.recordForbidden(r, st, c, reason, requestedCluster)
	writeError(w, http.StatusForbidden, reason)
}

// recordForbidden records a refused request as forbid does, without answering it.
func (s *Server) recordForbidden(r *http.Request, st store.Store, c store.Credential, reason, requestedCluster string) {
	s.metrics.forbidden.Inc()
	s.log.Warn("forbidden request", "credential", c.Name, "role", c.Role, "credentialCluster", c.Cluster,
		"requestedCluster", requestedCluster, "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason)
	details := map[string]any{
		"credential": c.Name, "role": c.Role, "method": r.Method, "path": r.URL.Path, "remoteAddr": r.RemoteAddr, "reason": reason,
	}
	if c.Cluster != "" {
		details["credentialCluster"] = c.Cluster
	}
	if requestedCluster != "" {
		details["requestedCluster"] = requestedCluster
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := recordServerEvent(ctx, st, "forbidden", c.Name, details); err != nil {
		s.log.Error("cannot record a forbidden request in the trail", "err", err)
	}
}
