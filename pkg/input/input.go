// Package input builds the document policies evaluate, input.request plus
// input.context, in the same shape for admission, audit and scan, directly in OPA's value
// form so the hot path never round-trips through JSON.
package input

import (
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Mode says how an object reached the policies.
type Mode string

// The modes of input.context.mode.
const (
	ModeAdmission Mode = "admission"
	ModeAudit     Mode = "audit"
	ModeScan      Mode = "scan"
)

// Operations of input.request.operation.
const (
	OpCreate  = "CREATE"
	OpUpdate  = "UPDATE"
	OpDelete  = "DELETE"
	OpConnect = "CONNECT"
)

// GroupVersionKind names an object's type as AdmissionReview does.
type GroupVersionKind struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// UserInfo is who asked, as AdmissionReview reports it.
type UserInfo struct {
	Username string              `json:"username"`
	UID      string              `json:"uid"`
	Groups   []string            `json:"groups"`
	Extra    map[string][]string `json:"extra"`
}

// Request is input.request: shaped like an AdmissionReview v1 request. The objects are
// kept in OPA's value form, built once from whatever the object came as (JSON from the
// API server, a decoded manifest, an informer's map), so nothing converts them again.
type Request struct {
	UID       string
	Operation string
	Kind      GroupVersionKind
	Namespace string
	Name      string
	UserInfo  UserInfo
	Object    ast.Value // nil when there is none (DELETE)
	OldObject ast.Value // nil unless UPDATE or DELETE
	DryRun    bool
}

// Cluster is input.context.cluster.
type Cluster struct {
	Name   string
	Region string
	Labels map[string]string
}

// Namespace is input.context.namespace: what policies may know of the object's namespace.
type Namespace struct {
	Name        string
	Labels      map[string]string
	Annotations map[string]string
}

// Image is one entry of input.context.images, keyed by the reference as written.
type Image struct {
	Reference       string
	Registry        string
	Repository      string
	Tag             string
	Digest          string
	Error           string // set only when the reference does not parse
	ResolvedDigest  string // the digest the tag points at now, when Bailiff resolved it
	ResolveError    string // why resolving the tag failed, when it was tried
	Scanned         bool
	UnscannedReason string      // why Scan is nil: "pending", "failed: ...", "db stale"
	Scan            *ScanResult // nil unless Scanned
}

// ScanResult is a vulnerability scan of one image.
type ScanResult struct {
	Critical, High, Medium, Low, Fixable int
	DBUpdatedAt, ScannedAt               string // RFC 3339
	Vulnerabilities                      []Vulnerability
}

// Vulnerability is one finding of a scan.
type Vulnerability struct {
	ID, Severity, Package, Installed, Fixed string
}

// Context is input.context: what Go gathers so Rego never does I/O.
type Context struct {
	Mode           Mode
	Cluster        Cluster
	Namespace      *Namespace // nil when unknown
	Images         map[string]Image
	StorageClasses map[string]map[string]any // nil when unknown
}

// Input is a policy input ready to evaluate, with the facts the engine selects
// policies by.
type Input struct {
	Kind      string
	Operation string
	Namespace string
	Name      string
	value     ast.Value
}

// Value is the whole input document in OPA's form.
func (in *Input) Value() ast.Value { return in.value }

// New builds the input for a request and its context.
func New(req Request, ctx Context) (*Input, error) {
	request := requestValue(req)
	context, err := contextValue(ctx)
	if err != nil {
		return nil, err
	}
	return &Input{
		Kind:      req.Kind.Kind,
		Operation: req.Operation,
		Namespace: req.Namespace,
		Name:      req.Name,
		value: ast.NewObject(
			ast.Item(keyTerm("request"), ast.NewTerm(request)),
			ast.Item(keyTerm("context"), ast.NewTerm(context)),
		),
	}, nil
}

// ForObject builds the request the auditor and the CLI evaluate an existing object with:
// operation CREATE, no user.
func ForObject(obj map[string]any) (Request, error) {
	v, err := ast.InterfaceToValue(obj)
	if err != nil {
		return Request{}, fmt.Errorf("object: %w", err)
	}
	return ForValue(v), nil
}

// ForValue is ForObject for an object already in OPA's value form.
func ForValue(obj ast.Value) Request {
	group, version := splitAPIVersion(LookupString(obj, "apiVersion"))
	name := LookupString(obj, "metadata", "name")
	if name == "" {
		name = LookupString(obj, "metadata", "generateName")
	}
	return Request{
		Operation: OpCreate,
		Kind:      GroupVersionKind{Group: group, Version: version, Kind: LookupString(obj, "kind")},
		Namespace: LookupString(obj, "metadata", "namespace"),
		Name:      name,
		Object:    obj,
	}
}

func splitAPIVersion(apiVersion string) (group, version string) {
	for i := len(apiVersion) - 1; i >= 0; i-- {
		if apiVersion[i] == '/' {
			return apiVersion[:i], apiVersion[i+1:]
		}
	}
	return "", apiVersion
}

func requestValue(r Request) ast.Value {
	groups := make([]*ast.Term, len(r.UserInfo.Groups))
	for i, g := range r.UserInfo.Groups {
		groups[i] = ast.StringTerm(g)
	}
	extra := ast.NewObject()
	for k, vs := range r.UserInfo.Extra {
		terms := make([]*ast.Term, len(vs))
		for i, v := range vs {
			terms[i] = ast.StringTerm(v)
		}
		extra.Insert(ast.StringTerm(k), ast.ArrayTerm(terms...))
	}
	return ast.NewObject(
		item("uid", ast.StringTerm(r.UID)),
		item("operation", ast.StringTerm(r.Operation)),
		item("kind", ast.ObjectTerm(
			item("group", ast.StringTerm(r.Kind.Group)),
			item("version", ast.StringTerm(r.Kind.Version)),
			item("kind", ast.StringTerm(r.Kind.Kind)),
		)),
		item("namespace", ast.StringTerm(r.Namespace)),
		item("name", ast.StringTerm(r.Name)),
		item("userInfo", ast.ObjectTerm(
			item("username", ast.StringTerm(r.UserInfo.Username)),
			item("uid", ast.StringTerm(r.UserInfo.UID)),
			item("groups", ast.ArrayTerm(groups...)),
			item("extra", ast.NewTerm(extra)),
		)),
		item("object", objectTerm(r.Object)),
		item("oldObject", objectTerm(r.OldObject)),
		item("dryRun", ast.InternedTerm(r.DryRun)),
	)
}

func objectTerm(obj ast.Value) *ast.Term {
	if obj == nil {
		return ast.InternedNullTerm
	}
	return ast.NewTerm(obj)
}

func contextValue(c Context) (ast.Value, error) {
	obj := ast.NewObject(
		item("mode", ast.StringTerm(string(c.Mode))),
		item("cluster", ast.ObjectTerm(
			item("name", ast.StringTerm(c.Cluster.Name)),
			item("region", ast.StringTerm(c.Cluster.Region)),
			item("labels", stringMapTerm(c.Cluster.Labels)),
		)),
		item("images", imagesTerm(c.Images)),
	)
	if c.Namespace != nil {
		obj.Insert(keyTerm("namespace"), ast.ObjectTerm(
			item("name", ast.StringTerm(c.Namespace.Name)),
			item("labels", stringMapTerm(c.Namespace.Labels)),
			item("annotations", stringMapTerm(c.Namespace.Annotations)),
		))
	}
	if c.StorageClasses != nil {
		classes := ast.NewObject()
		for name, sc := range c.StorageClasses {
			v, err := ast.InterfaceToValue(sc)
			if err != nil {
				return nil, fmt.Errorf("storage class %s: %w", name, err)
			}
			classes.Insert(ast.StringTerm(name), ast.NewTerm(v))
		}
		obj.Insert(keyTerm("storageClasses"), ast.NewTerm(classes))
	}
	return obj, nil
}

func imagesTerm(imgs map[string]Image) *ast.Term {
	out := ast.NewObject()
	for ref, img := range imgs {
		fields := [][2]*ast.Term{
			item("reference", ast.StringTerm(img.Reference)),
			item("registry", ast.StringTerm(img.Registry)),
			item("repository", ast.StringTerm(img.Repository)),
			item("tag", ast.StringTerm(img.Tag)),
			item("digest", ast.StringTerm(img.Digest)),
			item("scanned", ast.BooleanTerm(img.Scanned)),
		}
		if img.Error != "" {
			fields = append(fields, item("error", ast.StringTerm(img.Error)))
		}
		if img.ResolvedDigest != "" {
			fields = append(fields, item("resolved_digest", ast.StringTerm(img.ResolvedDigest)))
		}
		if img.ResolveError != "" {
			fields = append(fields, item("resolve_error", ast.StringTerm(img.ResolveError)))
		}
		if img.UnscannedReason != "" {
			fields = append(fields, item("unscanned_reason", ast.StringTerm(img.UnscannedReason)))
		}
		if img.Scan != nil {
			fields = append(fields, item("scan", scanTerm(img.Scan)))
		}
		out.Insert(ast.StringTerm(ref), ast.ObjectTerm(fields...))
	}
	return ast.NewTerm(out)
}

func scanTerm(s *ScanResult) *ast.Term {
	vulns := make([]*ast.Term, len(s.Vulnerabilities))
	for i, v := range s.Vulnerabilities {
		vulns[i] = ast.ObjectTerm(
			item("id", ast.StringTerm(v.ID)),
			item("severity", ast.StringTerm(v.Severity)),
			item("package", ast.StringTerm(v.Package)),
			item("installed", ast.StringTerm(v.Installed)),
			item("fixed", ast.StringTerm(v.Fixed)),
		)
	}
	return ast.ObjectTerm(
		item("critical", ast.IntNumberTerm(s.Critical)),
		item("high", ast.IntNumberTerm(s.High)),
		item("medium", ast.IntNumberTerm(s.Medium)),
		item("low", ast.IntNumberTerm(s.Low)),
		item("fixable", ast.IntNumberTerm(s.Fixable)),
		item("db_updated_at", ast.StringTerm(s.DBUpdatedAt)),
		item("scanned_at", ast.StringTerm(s.ScannedAt)),
		item("vulnerabilities", ast.ArrayTerm(vulns...)),
	)
}

func stringMapTerm(m map[string]string) *ast.Term {
	out := ast.NewObject()
	for k, v := range m {
		out.Insert(ast.StringTerm(k), ast.StringTerm(v))
	}
	return ast.NewTerm(out)
}

func item(key string, value *ast.Term) [2]*ast.Term {
	return ast.Item(keyTerm(key), value)
}

// inputKeys holds a shared term for every key of the input document Go builds, so
// building an input allocates none. Built once at initialisation, only read afterwards.
var inputKeys = newCommonStrings(strings.Fields(`request context
	uid operation kind group version namespace name userInfo username groups extra object
	oldObject dryRun mode cluster region labels annotations images storageClasses
	reference registry repository tag digest scanned error resolved_digest resolve_error
	unscanned_reason scan critical high medium low fixable db_updated_at scanned_at
	vulnerabilities id severity package installed fixed`)...)

// keyTerm is the shared term of an input key.
func keyTerm(key string) *ast.Term {
	if t, ok := inputKeys[key]; ok {
		return t
	}
	return ast.StringTerm(key)
}
