package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/bailiff/bailiff/pkg/store"
)

// CredentialRequest is the body of POST /api/v1/credentials.
type CredentialRequest struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Cluster string `json:"cluster,omitempty"`
}

// CredentialResponse answers it, with the token: the only time it is shown.
type CredentialResponse struct {
	CredentialRequest
	Token string `json:"token"`
}

// createCredential answers POST /api/v1/credentials (admins only). A name
// already in use is replaced, which rotates its token.
func (s *Server) createCredential(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential) {
	var req CredentialRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("malformed credential request: %v", err))
		return
	}
	if err := ValidateCredential(req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	token, err := CreateCredential(r.Context(), st, req, c.Name)
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	s.log.Info("credential created", "credential", req.Name, "role", req.Role, "cluster", req.Cluster, "by", c.Name)
	writeJSON(w, http.StatusCreated, CredentialResponse{CredentialRequest: req, Token: token})
}

// deleteCredential answers DELETE /api/v1/credentials/{name} (admins only).
func (s *Server) deleteCredential(w http.ResponseWriter, r *http.Request, st store.Store, c store.Credential) {
	name := r.PathValue("name")
	err := DeleteCredential(r.Context(), st, name, c.Name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no credential named %s", name))
	case err != nil:
		s.internalError(w, r, err)
	default:
		s.log.Info("credential deleted", "credential", name, "by", c.Name)
		w.WriteHeader(http.StatusNoContent)
	}
}
