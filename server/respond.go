package server

import (
	"encoding/json"
	"net/http"

	"github.com/bailiff/bailiff/pkg/trail"
)

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// writeError answers {"error": reason} with an error status.
func writeError(w http.ResponseWriter, code int, reason string) {
	writeJSON(w, code, trail.ErrorResponse{Error: reason})
}

// internalError logs err and answers 500 without revealing it.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error; the server log has the details")
}
