package images

import "testing"

func TestParseReference(t *testing.T) {
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	tests := []struct {
		ref                      string
		registry, repo, tag, dig string
		wantErr                  bool
	}{
		{ref: "nginx", registry: "docker.io", repo: "library/nginx"},
		{ref: "nginx:1.27", registry: "docker.io", repo: "library/nginx", tag: "1.27"},
		{ref: "docker.io/library/nginx:latest", registry: "docker.io", repo: "library/nginx", tag: "latest"},
		{ref: "index.docker.io/acme/api:v1", registry: "docker.io", repo: "acme/api", tag: "v1"},
		{ref: "ghcr.io/acme/api:2.0", registry: "ghcr.io", repo: "acme/api", tag: "2.0"},
		{ref: "localhost:5000/app", registry: "localhost:5000", repo: "app"},
		{ref: "localhost:5000/app:dev", registry: "localhost:5000", repo: "app", tag: "dev"},
		{ref: "registry.example.com/team/app@" + digest, registry: "registry.example.com", repo: "team/app", dig: digest},
		{ref: "registry.example.com/team/app:1.0@" + digest, registry: "registry.example.com", repo: "team/app", tag: "1.0", dig: digest},
		{ref: "", wantErr: true},
		{ref: "UPPER/case", wantErr: true},
		{ref: "nginx:", wantErr: true},
		{ref: "nginx@sha256:short", wantErr: true},
		{ref: "a b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got := ParseReference(tt.ref)
			if tt.wantErr {
				if got.Error == "" {
					t.Fatalf("want an error, got %+v", got)
				}
				return
			}
			if got.Error != "" {
				t.Fatalf("unexpected error %q", got.Error)
			}
			if got.Registry != tt.registry || got.Repository != tt.repo || got.Tag != tt.tag || got.Digest != tt.dig {
				t.Errorf("got %+v", got)
			}
		})
	}
}
