package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// decodeStrict reads a request body as one JSON document of T: bounded in size
// (413 past limit), no unknown fields, nothing after it (400 otherwise).
func decodeStrict[T any](w http.ResponseWriter, r *http.Request, limit int64) (T, int, error) {
	var v T
	// Read first, then decode: whether the decoder passes a reader's error on
	// wrapped differs between encoding/json implementations.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if tooLarge, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return v, http.StatusRequestEntityTooLarge, fmt.Errorf("the body is larger than %d bytes; send smaller batches", tooLarge.Limit)
	}
	if err != nil {
		return v, http.StatusBadRequest, fmt.Errorf("read the body: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err = dec.Decode(&v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errors.New("the body holds more than one JSON document")
			if extra != nil {
				err = extra
			}
		}
	}
	if err != nil {
		return v, http.StatusBadRequest, fmt.Errorf("malformed batch: %v", err)
	}
	return v, 0, nil
}
