#!/usr/bin/python3
"""kube_double.py - a Kubernetes API server double for ferry's tests.

Speaks the Kubernetes REST API over TLS on 127.0.0.1, with bearer-token and
client-certificate authentication, real Status errors, list/watch with
resourceVersions, admission (namespace lifecycle, LimitRanger, ServiceAccount,
Pod Security, ResourceQuota), a namespace controller, a Job controller, a
garbage collector, a TTL controller, a scheduler and a "kubelet" that runs
the containers' commands on this host.  README.md beside this file says what
the real API server does for each behaviour and what this double does.

Standard library only, plus Debian's python3-kubernetes for the models that
request bodies are checked against.  Run it with /usr/bin/python3.
"""

import argparse
import base64
import copy
import datetime
import fractions
import http.server
import json
import os
import random
import re
import secrets as pysecrets
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

try:
	import kubernetes.client as kmodels
except ImportError:  # pragma: no cover
	sys.stderr.write("kube_double: python3-kubernetes is required "
	    "(apt-get install python3-kubernetes)\n")
	sys.exit(77)

VERSION = {
	"major": "1", "minor": "31", "gitVersion": "v1.31.0-double",
	"gitCommit": "0000000000000000000000000000000000000000",
	"gitTreeState": "clean", "buildDate": "2024-08-13T00:00:00Z",
	"goVersion": "go1.22.5", "compiler": "gc", "platform": "linux/amd64",
}
NODE_NAME = "double-node"


def log(msg):
	sys.stderr.write("%s kube-double: %s\n" % (
	    time.strftime("%H:%M:%S"), msg))
	sys.stderr.flush()


def now_rfc3339():
	return datetime.datetime.now(datetime.timezone.utc).strftime(
	    "%Y-%m-%dT%H:%M:%SZ")


def now_rfc3339_nano():
	t = time.time()
	return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
	    ".%09dZ" % int((t % 1) * 1e9)


def parse_time(s):
	return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
	    tzinfo=datetime.timezone.utc).timestamp()


# ---------------------------------------------------------------------------
# Resources served
# ---------------------------------------------------------------------------

class Res:
	def __init__(self, plural, group, version, kind, namespaced, model,
	    short=(), name_rule="subdomain", verbs=None, singular=None,
	    subresources=()):
		self.plural = plural
		self.group = group
		self.version = version
		self.kind = kind
		self.namespaced = namespaced
		self.model = model
		self.short = list(short)
		self.name_rule = name_rule
		self.verbs = verbs or ["create", "delete", "deletecollection",
		    "get", "list", "patch", "update", "watch"]
		self.singular = singular or kind.lower()
		self.subresources = subresources

	@property
	def api_version(self):
		return self.group + "/" + self.version if self.group else \
		    self.version

	@property
	def qualified(self):
		"""jobs.batch, pods: what Status messages name."""
		return self.plural + "." + self.group if self.group else \
		    self.plural

	@property
	def qualified_kind(self):
		"""Job.batch, Pod: what Invalid messages name."""
		return self.kind + "." + self.group if self.group else self.kind


RESOURCES = [
	Res("namespaces", "", "v1", "Namespace", False, "V1Namespace", ["ns"],
	    "label", verbs=["create", "delete", "get", "list", "patch",
	    "update", "watch"], subresources=("status", "finalize")),
	Res("pods", "", "v1", "Pod", True, "V1Pod", ["po"],
	    subresources=("log", "status")),
	Res("secrets", "", "v1", "Secret", True, "V1Secret"),
	Res("configmaps", "", "v1", "ConfigMap", True, "V1ConfigMap", ["cm"]),
	Res("serviceaccounts", "", "v1", "ServiceAccount", True,
	    "V1ServiceAccount", ["sa"]),
	Res("resourcequotas", "", "v1", "ResourceQuota", True,
	    "V1ResourceQuota", ["quota"], subresources=("status",)),
	Res("limitranges", "", "v1", "LimitRange", True, "V1LimitRange",
	    ["limits"]),
	Res("events", "", "v1", "Event", True, "CoreV1Event", ["ev"]),
	Res("nodes", "", "v1", "Node", False, "V1Node", ["no"],
	    verbs=["get", "list", "watch"], subresources=("status",)),
	Res("jobs", "batch", "v1", "Job", True, "V1Job",
	    subresources=("status",)),
	Res("networkpolicies", "networking.k8s.io", "v1", "NetworkPolicy",
	    True, "V1NetworkPolicy", ["netpol"]),
	Res("roles", "rbac.authorization.k8s.io", "v1", "Role", True,
	    "V1Role", name_rule="path"),
	Res("rolebindings", "rbac.authorization.k8s.io", "v1", "RoleBinding",
	    True, "V1RoleBinding", name_rule="path"),
	Res("clusterroles", "rbac.authorization.k8s.io", "v1", "ClusterRole",
	    False, "V1ClusterRole", name_rule="path"),
]
BY_GV = {}
for _r in RESOURCES:
	BY_GV.setdefault((_r.group, _r.version), {})[_r.plural] = _r
BY_PLURAL = {r.plural: r for r in RESOURCES}


# ---------------------------------------------------------------------------
# Errors: metav1.Status as k8s.io/apimachinery/pkg/api/errors builds them
# ---------------------------------------------------------------------------

class ApiError(Exception):
	def __init__(self, code, reason, message, details=None, headers=None):
		Exception.__init__(self, message)
		self.code = code
		self.reason = reason
		self.message = message
		self.details = details
		self.headers = headers or {}

	def status(self):
		st = {"kind": "Status", "apiVersion": "v1", "metadata": {},
		    "status": "Failure", "message": self.message}
		if self.reason:
			st["reason"] = self.reason
		if self.details is not None:
			st["details"] = self.details
		st["code"] = self.code
		return st


def _details(res, name, **kw):
	d = {}
	if name:
		d["name"] = name
	if res is not None and res.group:
		d["group"] = res.group
	if res is not None:
		d["kind"] = res.plural
	d.update(kw)
	return d


def err_not_found(res, name):
	return ApiError(404, "NotFound", '%s "%s" not found' % (
	    res.qualified, name), _details(res, name))


def err_ns_not_found(name):
	return err_not_found(BY_PLURAL["namespaces"], name)


def err_already_exists(res, name):
	return ApiError(409, "AlreadyExists", '%s "%s" already exists' % (
	    res.qualified, name), _details(res, name))


def err_conflict(res, name, why):
	return ApiError(409, "Conflict",
	    'Operation cannot be fulfilled on %s "%s": %s' % (
	    res.qualified, name, why), _details(res, name))


def err_forbidden(res, name, why, causes=None):
	d = _details(res, name)
	if causes:
		d["causes"] = causes
	return ApiError(403, "Forbidden", '%s "%s" is forbidden: %s' % (
	    res.qualified, name, why), d)


def err_bad_request(msg):
	return ApiError(400, "BadRequest", msg)


class FieldError:
	TYPES = {
		"Required": ("FieldValueRequired", "Required value"),
		"Invalid": ("FieldValueInvalid", "Invalid value"),
		"NotSupported": ("FieldValueNotSupported", "Unsupported value"),
		"TooLong": ("FieldValueTooLong", "Too long"),
		"Duplicate": ("FieldValueDuplicate", "Duplicate value"),
		"Forbidden": ("FieldValueForbidden", "Forbidden"),
		"NotFound": ("FieldValueNotFound", "Not found"),
	}

	def __init__(self, kind, field, value=None, detail=""):
		self.kind = kind
		self.field = field
		self.value = value
		self.detail = detail

	def text(self):
		reason, label = self.TYPES[self.kind]
		s = label
		if self.kind in ("Invalid", "NotSupported", "Duplicate",
		    "NotFound"):
			s += ": " + json.dumps(self.value)
		if self.detail:
			s += ": " + self.detail
		return s

	def cause(self):
		return {"reason": self.TYPES[self.kind][0],
		    "message": self.text(), "field": self.field}


def err_invalid(res, name, errs):
	texts = ["%s: %s" % (e.field, e.text()) for e in errs]
	if len(texts) == 1:
		agg = texts[0]
	else:
		agg = "[" + ", ".join(texts) + "]"
	d = {"name": name, "kind": res.kind,
	    "causes": [e.cause() for e in errs]}
	if res.group:
		d["group"] = res.group
	return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (
	    res.qualified_kind, name, agg), d)


def err_too_many(retry_after):
	return ApiError(429, "TooManyRequests",
	    "Too many requests, please try again later.",
	    {"retryAfterSeconds": int(retry_after)},
	    {"Retry-After": str(int(retry_after))})


def err_code(code, retry_after=1):
	if code == 429:
		return err_too_many(retry_after)
	if code == 500:
		return ApiError(500, "InternalError",
		    "Internal error occurred: injected by kube-double",
		    {"causes": [{"message": "injected by kube-double"}]})
	if code == 503:
		return ApiError(503, "ServiceUnavailable",
		    "the server is currently unable to handle the request",
		    {}, {"Retry-After": str(int(retry_after))})
	if code == 504:
		return ApiError(504, "Timeout",
		    "the server was unable to return a response in the time "
		    "allotted, but may still be processing the request",
		    {"retryAfterSeconds": int(retry_after)})
	if code == 502:
		return ApiError(502, "", "Bad Gateway")
	return ApiError(code, "", "injected error %d" % code)


# ---------------------------------------------------------------------------
# Names, labels, quantities
# ---------------------------------------------------------------------------

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")
CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case "
    "alphanumeric characters or '-', and must start and end with an "
    "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower "
    "case alphanumeric characters, '-' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
    "([-a-z0-9]*[a-z0-9])?)*')")
MSG_LABEL_VALUE = ("a valid label must be an empty string or consist of "
    "alphanumeric characters, '-', '_' or '.', and must start and end with "
    "an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
    "'12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")
MSG_QUALIFIED = ("name part must consist of alphanumeric characters, '-', "
    "'_' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")


def check_dns_label(field, value):
	errs = []
	if len(value) > 63:
		errs.append(FieldError("Invalid", field, value,
		    "must be no more than 63 characters"))
	if not DNS1123_LABEL.match(value):
		errs.append(FieldError("Invalid", field, value, MSG_LABEL))
	return errs


def check_dns_subdomain(field, value):
	errs = []
	if len(value) > 253:
		errs.append(FieldError("Invalid", field, value,
		    "must be no more than 253 characters"))
	if not DNS1123_SUBDOMAIN.match(value):
		errs.append(FieldError("Invalid", field, value, MSG_SUBDOMAIN))
	return errs


def check_path_segment(field, value):
	if value in (".", ".."):
		return [FieldError("Invalid", field, value,
		    'may not be \'%s\'' % value)]
	for bad in ("/", "%"):
		if bad in value:
			return [FieldError("Invalid", field, value,
			    "may not contain '%s'" % bad)]
	return []


def check_labels(field, labels):
	errs = []
	for k, v in (labels or {}).items():
		prefix, _, name = k.rpartition("/")
		if prefix:
			if not DNS1123_SUBDOMAIN.match(prefix) or \
			    len(prefix) > 253:
				errs.append(FieldError("Invalid", field, k,
				    "prefix part " + MSG_SUBDOMAIN))
		if len(name) > 63:
			errs.append(FieldError("Invalid", field, k,
			    "name part must be no more than 63 characters"))
		elif not QUALIFIED_NAME.match(name):
			errs.append(FieldError("Invalid", field, k,
			    MSG_QUALIFIED))
		if not isinstance(v, str):
			continue
		if len(v) > 63:
			errs.append(FieldError("Invalid", field, v,
			    "must be no more than 63 characters"))
		if not LABEL_VALUE.match(v):
			errs.append(FieldError("Invalid", field, v,
			    MSG_LABEL_VALUE))
	return errs


F = fractions.Fraction
_QSUFFIX = {"n": F(1, 10**9), "u": F(1, 10**6), "m": F(1, 1000), "": F(1),
    "k": F(10**3), "M": F(10**6), "G": F(10**9), "T": F(10**12),
    "P": F(10**15), "E": F(10**18), "Ki": F(2**10), "Mi": F(2**20),
    "Gi": F(2**30), "Ti": F(2**40), "Pi": F(2**50), "Ei": F(2**60)}
_QRE = re.compile(r"^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))"
    r"(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?$")
QUANTITY_REGEX_MSG = ("quantities must match the regular expression "
    "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


def qparse(v):
	if isinstance(v, bool):
		raise ValueError(QUANTITY_REGEX_MSG)
	if isinstance(v, (int, float)):
		return F(str(v))
	m = _QRE.match(str(v))
	if not m:
		raise ValueError(QUANTITY_REGEX_MSG)
	num = F(m.group(1))
	suf = m.group(2) or ""
	if suf[:1] in ("e", "E"):
		return num * F(10) ** int(suf[1:])
	return num * _QSUFFIX[suf]


def qfmt(v, resource=""):
	"""A canonical-looking Quantity string (cpu in m, memory binary)."""
	if v.denominator != 1:
		milli = v * 1000
		if milli.denominator == 1:
			return "%dm" % milli
		return str(float(v))
	n = int(v)
	if "memory" in resource or "storage" in resource:
		for suf in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
			d = int(_QSUFFIX[suf])
			if n and n % d == 0:
				return "%d%s" % (n // d, suf)
	return str(n)


# ---------------------------------------------------------------------------
# Structural validation against python3-kubernetes' models
# ---------------------------------------------------------------------------

# Fields newer than the models Debian ships (kubernetes 22 = API 1.22):
# accepted without checking their inside.  Anything else unknown is an
# unknown field, as with fieldValidation=Strict.
NEWER_FIELDS = {
	"V1JobSpec": ["podFailurePolicy", "backoffLimitPerIndex",
	    "maxFailedIndexes", "podReplacementPolicy", "successPolicy",
	    "managedBy"],
	"V1JobStatus": ["ready", "terminating", "failedIndexes"],
	"V1PodSpec": ["hostUsers", "os", "schedulingGates", "resourceClaims",
	    "resources", "setHostnameAsFQDN"],
	"V1Container": ["resizePolicy", "restartPolicy"],
	"V1SecurityContext": ["appArmorProfile"],
	"V1PodSecurityContext": ["appArmorProfile",
	    "supplementalGroupsPolicy", "seLinuxChangePolicy"],
	"V1ResourceRequirements": ["claims"],
	"V1NetworkPolicySpec": [],
	"V1ServiceAccount": [],
	"V1NamespaceStatus": [],
	"V1PodStatus": ["hostIPs", "podIPs", "resize", "resourceClaimStatuses"],
	"V1ContainerStatus": ["allocatedResources", "resources", "user",
	    "volumeMounts", "allocatedResourcesStatus", "stopSignal"],
	"V1ObjectMeta": [],
}
QUANTITY_MAPS = {"limits", "requests", "hard", "used", "default",
    "defaultRequest", "max", "min", "maxLimitRequestRatio", "capacity",
    "allocatable", "overhead"}


class DecodeError(Exception):
	pass


def _go_type(t):
	return {"str": "string", "int": "int64", "bool": "bool",
	    "float": "float64"}.get(t, t)


def check_model(model_name, value, path, unknown, typeerrs):
	"""Walks value against the model; collects unknown fields (JSON
	paths) and type errors (decode errors)."""
	if value is None:
		return
	if model_name in ("object",):
		return
	if model_name == "datetime":
		if not isinstance(value, str):
			typeerrs.append("json: cannot unmarshal %s into Go struct "
			    "field %s of type metav1.Time" % (_jtype(value), path))
		return
	if model_name in ("str", "int", "bool", "float"):
		ok = {"str": lambda x: isinstance(x, str),
		    "int": lambda x: isinstance(x, int) and
		    not isinstance(x, bool),
		    "bool": lambda x: isinstance(x, bool),
		    "float": lambda x: isinstance(x, (int, float)) and
		    not isinstance(x, bool)}[model_name](value)
		if not ok:
			typeerrs.append("json: cannot unmarshal %s into Go struct "
			    "field %s of type %s" % (_jtype(value), path,
			    _go_type(model_name)))
		return
	m = re.match(r"^list\[(.*)\]$", model_name)
	if m:
		if not isinstance(value, list):
			typeerrs.append("json: cannot unmarshal %s into Go struct "
			    "field %s of type []%s" % (_jtype(value), path,
			    _go_type(m.group(1))))
			return
		for i, item in enumerate(value):
			check_model(m.group(1), item, "%s[%d]" % (path, i),
			    unknown, typeerrs)
		return
	m = re.match(r"^dict\(str, (.*)\)$", model_name)
	if m:
		if not isinstance(value, dict):
			typeerrs.append("json: cannot unmarshal %s into Go struct "
			    "field %s of type map[string]%s" % (_jtype(value),
			    path, _go_type(m.group(1))))
			return
		last = path.rsplit(".", 1)[-1]
		for k, v in value.items():
			if last in QUANTITY_MAPS:
				try:
					qparse(v)
				except ValueError:
					typeerrs.append(QUANTITY_REGEX_MSG)
				continue
			check_model(m.group(1), v, path + "." + k, unknown,
			    typeerrs)
		return
	cls = getattr(kmodels, model_name, None)
	if cls is None:
		return
	if not isinstance(value, dict):
		typeerrs.append("json: cannot unmarshal %s into Go struct field "
		    "%s of type %s" % (_jtype(value), path, model_name))
		return
	rev = {v: k for k, v in cls.attribute_map.items()}
	extra = NEWER_FIELDS.get(model_name, [])
	for k, v in value.items():
		sub = (path + "." + k) if path else k
		if k in rev:
			check_model(cls.openapi_types[rev[k]], v, sub, unknown,
			    typeerrs)
		elif k in extra:
			continue
		else:
			unknown.append(sub)


def _jtype(v):
	if isinstance(v, bool):
		return "bool"
	if isinstance(v, (int, float)):
		return "number"
	if isinstance(v, str):
		return "string"
	if isinstance(v, list):
		return "array"
	if isinstance(v, dict):
		return "object"
	return "null"


# ---------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------

def parse_label_selector(s):
	"""Returns a list of (key, op, values) or raises ApiError."""
	reqs = []
	if not s:
		return reqs
	parts = []
	depth = 0
	cur = ""
	for ch in s:
		if ch == "(":
			depth += 1
		elif ch == ")":
			depth -= 1
		if ch == "," and depth == 0:
			parts.append(cur)
			cur = ""
		else:
			cur += ch
	parts.append(cur)
	for p in parts:
		p = p.strip()
		if not p:
			continue
		m = re.match(r"^([^\s!=<>]+)\s+(in|notin)\s+\((.*)\)$", p)
		if m:
			vals = [v.strip() for v in m.group(3).split(",")
			    if v.strip()]
			reqs.append((m.group(1), m.group(2), vals))
			continue
		m = re.match(r"^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$", p)
		if m:
			op = {"==": "=", "=": "=", "!=": "!="}[m.group(2)]
			reqs.append((m.group(1), op, [m.group(3)]))
			continue
		m = re.match(r"^!\s*([^\s!=]+)$", p)
		if m:
			reqs.append((m.group(1), "!", []))
			continue
		m = re.match(r"^([^\s!=(),]+)$", p)
		if m:
			reqs.append((m.group(1), "exists", []))
			continue
		raise err_bad_request("unable to parse requirement: "
		    "found '%s', expected: '=', '!=', '==', 'in', notin'" % p)
	return reqs


def labels_match(reqs, labels):
	labels = labels or {}
	for key, op, vals in reqs:
		if op == "=" and labels.get(key) != vals[0]:
			return False
		if op == "!=" and key in labels and labels[key] == vals[0]:
			return False
		if op == "in" and labels.get(key) not in vals:
			return False
		if op == "notin" and key in labels and labels[key] in vals:
			return False
		if op == "exists" and key not in labels:
			return False
		if op == "!" and key in labels:
			return False
	return True


def selector_from_label_selector(sel):
	"""metav1.LabelSelector -> requirements."""
	reqs = []
	for k, v in ((sel or {}).get("matchLabels") or {}).items():
		reqs.append((k, "=", [v]))
	for e in (sel or {}).get("matchExpressions") or []:
		op = {"In": "in", "NotIn": "notin", "Exists": "exists",
		    "DoesNotExist": "!"}.get(e.get("operator"))
		if op:
			reqs.append((e.get("key"), op, e.get("values") or []))
	return reqs


FIELD_LABELS = {
	"events": ["involvedObject.kind", "involvedObject.namespace",
	    "involvedObject.name", "involvedObject.uid",
	    "involvedObject.apiVersion", "involvedObject.resourceVersion",
	    "involvedObject.fieldPath", "reason", "reportingComponent",
	    "source", "type"],
	"pods": ["spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
	    "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
	    "status.podIP", "status.nominatedNodeName"],
	"namespaces": ["status.phase"],
	"secrets": ["type"],
	"jobs": ["status.successful"],
}


def parse_field_selector(res, s):
	reqs = []
	if not s:
		return reqs
	allowed = ["metadata.name", "metadata.namespace"] + \
	    FIELD_LABELS.get(res.plural, [])
	for p in s.split(","):
		p = p.strip()
		if not p:
			continue
		m = re.match(r"^([^=!]+)(==|=|!=)(.*)$", p)
		if not m:
			raise err_bad_request("invalid selector: '%s'; can't "
			    "understand '%s'" % (s, p))
		field = m.group(1)
		if field not in allowed:
			raise err_bad_request('field label not supported: %s' %
			    field)
		reqs.append((field, "!=" if m.group(2) == "!=" else "=",
		    m.group(3)))
	return reqs


def field_value(obj, field):
	if field == "source":
		return (obj.get("source") or {}).get("component", "")
	if field == "status.successful":
		return str((obj.get("status") or {}).get("succeeded", 0))
	cur = obj
	for part in field.split("."):
		if not isinstance(cur, dict):
			return ""
		cur = cur.get(part)
	if cur is None:
		return ""
	if isinstance(cur, bool):
		return "true" if cur else "false"
	return str(cur)


def fields_match(reqs, obj):
	for field, op, val in reqs:
		got = field_value(obj, field)
		if op == "=" and got != val:
			return False
		if op == "!=" and got == val:
			return False
	return True


# ---------------------------------------------------------------------------
# The store: objects, a global resourceVersion, a bounded watch history
# ---------------------------------------------------------------------------

class Store:
	def __init__(self, history):
		self.lock = threading.RLock()
		self.cond = threading.Condition(self.lock)
		self.rv = 1
		self.objs = {}		# (plural, ns, name) -> object
		self.hist = []		# (rv, type, plural, ns, obj, prev)
		self.history = history
		self.expired_upto = 0	# watches from below this get 410

	def next_rv(self):
		self.rv += 1
		return self.rv

	def _record(self, etype, res, obj, prev):
		rv = int(obj["metadata"]["resourceVersion"])
		self.hist.append((rv, etype, res.plural,
		    obj["metadata"].get("namespace", ""), obj, prev))
		while len(self.hist) > self.history:
			old = self.hist.pop(0)
			self.expired_upto = old[0]
		self.cond.notify_all()

	def compact(self):
		with self.lock:
			if self.hist:
				self.expired_upto = max(self.expired_upto,
				    self.hist[-1][0])
			self.expired_upto = max(self.expired_upto, self.rv)
			self.hist = []
			self.cond.notify_all()

	def get(self, res, ns, name):
		return self.objs.get((res.plural, ns or "", name))

	def list(self, res, ns=None):
		out = []
		for (plural, ons, _), o in self.objs.items():
			if plural == res.plural and (ns is None or ons == ns):
				out.append(o)
		out.sort(key=lambda o: (o["metadata"].get("namespace", ""),
		    o["metadata"]["name"]))
		return out

	def put_new(self, res, obj):
		with self.lock:
			md = obj["metadata"]
			md["resourceVersion"] = str(self.next_rv())
			self.objs[(res.plural, md.get("namespace", ""),
			    md["name"])] = obj
			self._record("ADDED", res, copy.deepcopy(obj), None)
			return obj

	def put(self, res, obj):
		"""Stores a modified object (same uid), emitting MODIFIED."""
		with self.lock:
			md = obj["metadata"]
			key = (res.plural, md.get("namespace", ""), md["name"])
			prev = self.objs.get(key)
			md["resourceVersion"] = str(self.next_rv())
			self.objs[key] = obj
			self._record("MODIFIED", res, copy.deepcopy(obj),
			    copy.deepcopy(prev) if prev else None)
			return obj

	def remove(self, res, obj):
		with self.lock:
			md = obj["metadata"]
			key = (res.plural, md.get("namespace", ""), md["name"])
			cur = self.objs.pop(key, None)
			if cur is None:
				return None
			cur = copy.deepcopy(cur)
			cur["metadata"]["resourceVersion"] = str(self.next_rv())
			self._record("DELETED", res, copy.deepcopy(cur), None)
			return cur

	def mutate(self, res, ns, name, uid, fn):
		"""Applies fn(obj) to a copy of the stored object with that uid;
		stores it if fn returns True.  Returns the object or None."""
		with self.lock:
			cur = self.get(res, ns, name)
			if cur is None or (uid and
			    cur["metadata"].get("uid") != uid):
				return None
			new = copy.deepcopy(cur)
			if fn(new):
				self.put(res, new)
				return new
			return cur


class Config:
	pass


CFG = Config()
ST = None		# Store
FAULTS = {"lock": threading.Lock(), "error_rate": 0.0, "codes": [429],
    "retry_after": 1, "latency_ms": 0, "drop_watches_every_s": 0,
    "rules": []}
REQLOG = []
REQLOG_LOCK = threading.Lock()
REQFILE = None		# --request-log: a file object, appended to
REQFILE_LOCK = threading.Lock()
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


def request_log(t_ms, method, path, body, code):
	"""--request-log: one JSON line for a mutating API request, with
	its arrival time (ms since the epoch, this host's clock), the
	namespace and name it is about (the body's metadata for a create)
	and, for a create, the labels of the object sent."""
	segs = [urllib.parse.unquote(x) for x in path.split("/") if x]
	rest = segs[2:] if segs[:1] == ["api"] else segs[3:]
	ns = name = None
	if rest[:1] == ["namespaces"] and len(rest) >= 3:
		ns = rest[1]
		name = rest[3] if len(rest) > 3 else None
	elif len(rest) >= 2:
		name = rest[1]
	labels = None
	if method == "POST" and name is None and body:
		try:
			md = json.loads(body).get("metadata") or {}
			name = md.get("name") or md.get("generateName")
			ns = ns or md.get("namespace")
			labels = md.get("labels")
		except (ValueError, AttributeError):
			pass
	line = json.dumps({"time_ms": round(t_ms, 3), "method": method,
	    "path": path, "namespace": ns, "name": name, "labels": labels,
	    "code": code}, separators=(",", ":")) + "\n"
	with REQFILE_LOCK:
		REQFILE.write(line)
		REQFILE.flush()


def with_kind(res, obj):
	o = copy.deepcopy(obj)
	out = {"kind": res.kind, "apiVersion": res.api_version}
	out.update({k: v for k, v in o.items()
	    if k not in ("kind", "apiVersion") and not k.startswith("_")})
	return out


def new_uid():
	return str(uuid.uuid4())


def rand_suffix(n=5):
	alphabet = "bcdfghjklmnpqrstvwxz2456789"
	return "".join(random.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------------------
# Events (core/v1), aggregated by involvedObject + reason + message
# ---------------------------------------------------------------------------

def record_event(res, obj, etype, reason, message, component,
    host=None):
	md = obj["metadata"]
	ns = md.get("namespace") or "default"
	evres = BY_PLURAL["events"]
	with ST.lock:
		nso = ST.get(BY_PLURAL["namespaces"], "", ns)
		if nso is None or nso.get("status", {}).get("phase") == \
		    "Terminating":
			return	# the real recorder's POST is refused likewise
		for ev in ST.list(evres, ns):
			io = ev.get("involvedObject", {})
			if io.get("uid") == md.get("uid") and \
			    ev.get("reason") == reason and \
			    ev.get("message") == message:
				ev = copy.deepcopy(ev)
				ev["count"] = ev.get("count", 1) + 1
				ev["lastTimestamp"] = now_rfc3339()
				ST.put(evres, ev)
				return
		ts = now_rfc3339()
		src = {"component": component}
		if host:
			src["host"] = host
		ev = {"metadata": {"name": "%s.%016x" % (md["name"],
		    int(time.time() * 1e9) + random.randint(0, 999)),
		    "namespace": ns, "uid": new_uid(),
		    "creationTimestamp": ts},
		    "involvedObject": {"kind": res.kind, "namespace": ns,
		    "name": md["name"], "uid": md.get("uid"),
		    "apiVersion": res.api_version,
		    "resourceVersion": md.get("resourceVersion")},
		    "reason": reason, "message": message, "source": src,
		    "firstTimestamp": ts, "lastTimestamp": ts, "count": 1,
		    "type": etype, "eventTime": None,
		    "reportingComponent": component,
		    "reportingInstance": host or ""}
		ST.put_new(evres, ev)


# ---------------------------------------------------------------------------
# Pod resources, LimitRange, ResourceQuota, Pod Security
# ---------------------------------------------------------------------------

def _containers(spec, init=True):
	out = []
	if init:
		out += spec.get("initContainers") or []
	out += spec.get("containers") or []
	return out


def pod_resources(spec):
	"""Effective requests/limits: max(sum(containers), max(init))."""
	tot = {}
	for kind in ("requests", "limits"):
		s = {}
		for c in spec.get("containers") or []:
			for r, v in ((c.get("resources") or {}).get(kind) or
			    {}).items():
				s[r] = s.get(r, F(0)) + qparse(v)
		for c in spec.get("initContainers") or []:
			for r, v in ((c.get("resources") or {}).get(kind) or
			    {}).items():
				s[r] = max(s.get(r, F(0)), qparse(v))
		for r, v in (spec.get("overhead") or {}).items():
			s[r] = s.get(r, F(0)) + qparse(v)
		tot[kind] = s
	return tot


def pod_usage(pod):
	spec = pod.get("spec") or {}
	r = pod_resources(spec)
	u = {"pods": F(1), "count/pods": F(1)}
	for name in ("cpu", "memory", "ephemeral-storage"):
		if name in r["requests"]:
			u["requests." + name] = r["requests"][name]
			if name != "ephemeral-storage":
				u[name] = r["requests"][name]
		if name in r["limits"]:
			u["limits." + name] = r["limits"][name]
	return u


def pod_terminal(pod):
	return (pod.get("status") or {}).get("phase") in ("Succeeded",
	    "Failed")


def limitranger_admit(ns, pod, name):
	"""Applies LimitRange defaults; returns (annotation, error)."""
	lrs = ST.list(BY_PLURAL["limitranges"], ns)
	spec = pod["spec"]
	set_req = {}
	set_lim = {}
	for lr in lrs:
		for item in (lr.get("spec") or {}).get("limits") or []:
			if item.get("type") != "Container":
				continue
			default = item.get("default") or {}
			dreq = item.get("defaultRequest") or {}
			for c in _containers(spec):
				res = c.setdefault("resources", {})
				lim = res.setdefault("limits", {})
				req = res.setdefault("requests", {})
				for r, v in default.items():
					if r not in lim:
						lim[r] = v
						set_lim.setdefault(c["name"],
						    []).append(r)
				for r, v in dreq.items():
					if r not in req:
						req[r] = v
						set_req.setdefault(c["name"],
						    []).append(r)
				# defaultRequest defaults to default
				for r, v in default.items():
					if r not in req and r not in dreq:
						req[r] = v
						set_req.setdefault(c["name"],
						    []).append(r)
				if not lim:
					del res["limits"]
				if not req:
					del res["requests"]
	parts = []
	for cname in sorted(set(set_req) | set(set_lim)):
		if cname in set_req:
			parts.append("%s request for container %s" % (
			    ", ".join(sorted(set(set_req[cname]))), cname))
		if cname in set_lim:
			parts.append("%s limit for container %s" % (
			    ", ".join(sorted(set(set_lim[cname]))), cname))
	ann = ("LimitRanger plugin set: " + "; ".join(parts)) if parts else None
	return ann


def limitranger_validate(ns, pod):
	for lr in ST.list(BY_PLURAL["limitranges"], ns):
		for item in (lr.get("spec") or {}).get("limits") or []:
			typ = item.get("type")
			if typ == "Container":
				targets = [((c.get("resources") or {}))
				    for c in _containers(pod["spec"])]
			elif typ == "Pod":
				r = pod_resources(pod["spec"])
				targets = [{"requests": {k: qfmt(v, k) for k, v in
				    r["requests"].items()}, "limits":
				    {k: qfmt(v, k) for k, v in
				    r["limits"].items()}}]
			else:
				continue
			for res in targets:
				for r, mx in (item.get("max") or {}).items():
					lim = (res.get("limits") or {}).get(r)
					if lim is None:
						return "maximum %s usage per %s is %s.  " \
						    "No limit is specified" % (r, typ, mx)
					if qparse(lim) > qparse(mx):
						return "maximum %s usage per %s is %s, " \
						    "but limit is %s" % (r, typ, mx, lim)
				for r, mn in (item.get("min") or {}).items():
					req = (res.get("requests") or {}).get(r)
					if req is None:
						return "minimum %s usage per %s is %s.  " \
						    "No request is specified" % (r, typ, mn)
					if qparse(req) < qparse(mn):
						return "minimum %s usage per %s is %s, " \
						    "but request is %s" % (r, typ, mn, req)
	return None


QUOTA_VALIDATION = {"cpu": ("requests", "cpu"),
    "requests.cpu": ("requests", "cpu"), "memory": ("requests", "memory"),
    "requests.memory": ("requests", "memory"),
    "limits.cpu": ("limits", "cpu"), "limits.memory": ("limits", "memory")}


def quota_scope_match(quota, pod):
	spec = pod.get("spec") or {}
	r = pod_resources(spec)
	best_effort = not r["requests"] and not r["limits"]
	for scope in (quota.get("spec") or {}).get("scopes") or []:
		if scope == "Terminating" and \
		    spec.get("activeDeadlineSeconds") is None:
			return False
		if scope == "NotTerminating" and \
		    spec.get("activeDeadlineSeconds") is not None:
			return False
		if scope == "BestEffort" and not best_effort:
			return False
		if scope == "NotBestEffort" and best_effort:
			return False
	return True


def quota_used(ns, quota):
	hard = (quota.get("spec") or {}).get("hard") or {}
	used = {k: F(0) for k in hard}
	for pod in ST.list(BY_PLURAL["pods"], ns):
		if pod_terminal(pod) or not quota_scope_match(quota, pod):
			continue
		for k, v in pod_usage(pod).items():
			if k in used:
				used[k] += v
	for k in hard:
		res = _count_resource(k)
		if res is not None and res.plural != "pods":
			used[k] = F(len(ST.list(res, ns)))
	return used


def _count_resource(key):
	name = key[len("count/"):] if key.startswith("count/") else key
	plural, _, group = name.partition(".")
	res = BY_PLURAL.get(plural)
	if res is None or res.group != group:
		return None
	if not key.startswith("count/") and res.plural not in (
	    "secrets", "configmaps", "resourcequotas", "pods"):
		return None
	return res


def quota_admit(res, ns, obj, name):
	"""Returns an error message or None."""
	for q in ST.list(BY_PLURAL["resourcequotas"], ns):
		hard = (q.get("spec") or {}).get("hard") or {}
		if res.plural == "pods":
			if not quota_scope_match(q, obj):
				continue
			missing = {}
			for key in hard:
				if key not in QUOTA_VALIDATION:
					continue
				kind, rname = QUOTA_VALIDATION[key]
				for c in _containers(obj["spec"]):
					if rname not in ((c.get("resources") or
					    {}).get(kind) or {}):
						missing.setdefault(key,
						    set()).add(c["name"])
			if missing:
				return "failed quota: %s: must specify %s" % (
				    q["metadata"]["name"], "; ".join(
				    "%s for: %s" % (k, ",".join(sorted(v)))
				    for k, v in sorted(missing.items())))
			delta = pod_usage(obj)
		else:
			delta = {}
			for key in hard:
				cr = _count_resource(key)
				if cr is not None and cr.plural == res.plural:
					delta[key] = F(1)
		used = quota_used(ns, q)
		exceeded = []
		for key, d in delta.items():
			if key not in hard or not d:
				continue
			if used.get(key, F(0)) + d > qparse(hard[key]):
				exceeded.append(key)
		if exceeded:
			exceeded.sort()

			def pp(vals):
				return ",".join("%s=%s" % (k, qfmt(vals[k], k))
				    for k in exceeded)
			return "exceeded quota: %s, requested: %s, used: %s, " \
			    "limited: %s" % (q["metadata"]["name"], pp(delta),
			    pp(used), pp({k: qparse(hard[k]) for k in hard}))
	return None


PSA_BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER",
    "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID",
    "SETPCAP", "SETUID", "SYS_CHROOT"}
PSA_RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir",
    "ephemeral", "persistentVolumeClaim", "projected", "secret"}


def _quoted(names):
	return ", ".join('"%s"' % n for n in names)


def _ctrs(names):
	return ("container " if len(names) == 1 else "containers ") + \
	    _quoted(names)


def psa_evaluate(spec, level):
	"""Pod Security Standards checks, in the order the admission plugin
	reports them (baseline checks by ID, then restricted by ID).
	Returns a list of "reason (detail)" strings."""
	if level not in ("baseline", "restricted"):
		return []
	out = []
	psc = spec.get("securityContext") or {}
	ctrs = [c for c in _containers(spec)] + \
	    (spec.get("ephemeralContainers") or [])

	def sc(c):
		return c.get("securityContext") or {}
	# baseline: capabilities_baseline (restricted replaces it)
	if level == "baseline":
		bad = []
		for c in ctrs:
			for cap in (sc(c).get("capabilities") or {}).get("add") \
			    or []:
				if cap not in PSA_BASELINE_CAPS:
					bad.append((c["name"], cap))
		if bad:
			out.append("non-default capabilities (%s must not "
			    "include %s in securityContext.capabilities.add)" % (
			    _ctrs(sorted({b[0] for b in bad})),
			    _quoted(sorted({b[1] for b in bad}))))
	hosts = [f for f in ("hostNetwork", "hostPID", "hostIPC")
	    if spec.get(f)]
	if hosts:
		out.append("host namespaces (%s)" % ", ".join(
		    "%s=true" % h for h in hosts))
	if level == "baseline":
		hp = [v["name"] for v in spec.get("volumes") or []
		    if "hostPath" in v]
		if hp:
			out.append("hostPath volumes (%s %s)" % (
			    "volume" if len(hp) == 1 else "volumes", _quoted(hp)))
	ports = []
	for c in ctrs:
		for p in c.get("ports") or []:
			if p.get("hostPort"):
				ports.append((c["name"], p["hostPort"]))
	if ports:
		out.append("hostPort (%s %s %s)" % (_ctrs(sorted({p[0]
		    for p in ports})), "uses hostPort" if len(ports) == 1 else
		    "use hostPorts", ", ".join(str(p[1]) for p in ports)))
	priv = [c["name"] for c in ctrs if sc(c).get("privileged")]
	if priv:
		out.append("privileged (%s must not set "
		    "securityContext.privileged=true)" % _ctrs(priv))
	if level == "baseline" and (psc.get("seccompProfile") or
	    {}).get("type") == "Unconfined":
		out.append('seccompProfile (pod must not set '
		    'securityContext.seccompProfile.type to "Unconfined")')
	if level != "restricted":
		return out
	ape = [c["name"] for c in ctrs
	    if sc(c).get("allowPrivilegeEscalation") is not False]
	if ape:
		out.append("allowPrivilegeEscalation != false (%s must set "
		    "securityContext.allowPrivilegeEscalation=false)" %
		    _ctrs(ape))
	nodrop = []
	adds = []
	for c in ctrs:
		caps = sc(c).get("capabilities") or {}
		if "ALL" not in (caps.get("drop") or []):
			nodrop.append(c["name"])
		for cap in caps.get("add") or []:
			if cap != "NET_BIND_SERVICE":
				adds.append((c["name"], cap))
	parts = []
	if nodrop:
		parts.append('%s must set securityContext.capabilities.'
		    'drop=["ALL"]' % _ctrs(nodrop))
	if adds:
		parts.append("%s must not include %s in securityContext."
		    "capabilities.add" % (_ctrs(sorted({a[0] for a in adds})),
		    _quoted(sorted({a[1] for a in adds}))))
	if parts:
		out.append("unrestricted capabilities (%s)" % "; ".join(parts))
	badvol = []
	for v in spec.get("volumes") or []:
		types = [k for k in v if k != "name"]
		for t in types:
			if t not in PSA_RESTRICTED_VOLUMES:
				badvol.append((v["name"], t))
	if badvol:
		if len(badvol) == 1:
			out.append('restricted volume types (volume "%s" uses '
			    'restricted volume type "%s")' % badvol[0])
		else:
			out.append("restricted volume types (volumes %s use "
			    "restricted volume types %s)" % (_quoted(
			    [b[0] for b in badvol]), _quoted(sorted({b[1]
			    for b in badvol}))))
	pod_nonroot = psc.get("runAsNonRoot")
	parts = []
	if pod_nonroot is False:
		parts.append("pod must not set securityContext."
		    "runAsNonRoot=false")
	explicit_false = [c["name"] for c in ctrs
	    if sc(c).get("runAsNonRoot") is False]
	if explicit_false:
		parts.append("%s must not set securityContext."
		    "runAsNonRoot=false" % _ctrs(explicit_false))
	if pod_nonroot is not True:
		unset = [c["name"] for c in ctrs
		    if sc(c).get("runAsNonRoot") is None]
		if unset:
			parts.append("pod or %s must set securityContext."
			    "runAsNonRoot=true" % _ctrs(unset))
	if parts:
		out.append("runAsNonRoot != true (%s)" % "; ".join(parts))
	root_c = [c["name"] for c in ctrs if sc(c).get("runAsUser") == 0]
	if psc.get("runAsUser") == 0 and root_c:
		out.append("runAsUser=0 (pod and %s must not set "
		    "runAsUser=0)" % _ctrs(root_c))
	elif psc.get("runAsUser") == 0:
		out.append("runAsUser=0 (pod must not set runAsUser=0)")
	elif root_c:
		out.append("runAsUser=0 (%s must not set runAsUser=0)" %
		    _ctrs(root_c))
	pod_sc = (psc.get("seccompProfile") or {}).get("type")
	parts = []
	if pod_sc == "Unconfined":
		parts.append('pod must not set securityContext.seccompProfile.'
		    'type to "Unconfined"')
	unconf = [c["name"] for c in ctrs
	    if (sc(c).get("seccompProfile") or {}).get("type") ==
	    "Unconfined"]
	if unconf:
		parts.append('%s must not set securityContext.seccompProfile.'
		    'type to "Unconfined"' % _ctrs(unconf))
	if pod_sc not in ("RuntimeDefault", "Localhost"):
		unset = [c["name"] for c in ctrs
		    if not (sc(c).get("seccompProfile") or {}).get("type")]
		if unset:
			parts.append('pod or %s must set securityContext.'
			    'seccompProfile.type to "RuntimeDefault" or '
			    '"Localhost"' % _ctrs(unset))
	if parts:
		out.append("seccompProfile (%s)" % "; ".join(parts))
	return out


def psa_levels(ns_obj):
	labels = (ns_obj or {}).get("metadata", {}).get("labels") or {}
	out = {}
	for mode in ("enforce", "warn", "audit"):
		lvl = labels.get("pod-security.kubernetes.io/" + mode)
		if lvl:
			ver = labels.get("pod-security.kubernetes.io/%s-version" %
			    mode, "latest")
			out[mode] = (lvl, ver)
	return out


# ---------------------------------------------------------------------------
# Defaulting and validation, per resource
# ---------------------------------------------------------------------------

def default_pod_spec(spec):
	spec.setdefault("restartPolicy", "Always")
	spec.setdefault("terminationGracePeriodSeconds", 30)
	spec.setdefault("dnsPolicy", "ClusterFirst")
	spec.setdefault("schedulerName", "default-scheduler")
	spec.setdefault("securityContext", {})
	spec.setdefault("enableServiceLinks", True)
	spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
	spec.setdefault("priority", 0)
	for c in _containers(spec):
		img = c.get("image") or ""
		tag = img.rsplit("/", 1)[-1]
		if "imagePullPolicy" not in c:
			c["imagePullPolicy"] = "Always" if (":" not in tag or
			    tag.endswith(":latest")) and "@" not in img else \
			    "IfNotPresent"
		c.setdefault("terminationMessagePath", "/dev/termination-log")
		c.setdefault("terminationMessagePolicy", "File")
		c.setdefault("resources", {})
		res = c["resources"]
		# requests default to limits (core/v1 defaulting)
		for r, v in (res.get("limits") or {}).items():
			res.setdefault("requests", {}).setdefault(r, v)
	for v in spec.get("volumes") or []:
		if "emptyDir" in v and v["emptyDir"] is None:
			v["emptyDir"] = {}


def validate_pod_spec(spec, fp, job=False):
	errs = []
	ctrs = spec.get("containers") or []
	if not ctrs:
		errs.append(FieldError("Required", fp + ".containers"))
	vols = {}
	for i, v in enumerate(spec.get("volumes") or []):
		p = "%s.volumes[%d]" % (fp, i)
		n = v.get("name") or ""
		if not n:
			errs.append(FieldError("Required", p + ".name"))
		else:
			errs += check_dns_label(p + ".name", n)
		if n in vols:
			errs.append(FieldError("Duplicate", p + ".name", n))
		vols[n] = v
		if len([k for k in v if k != "name"]) == 0:
			errs.append(FieldError("Required", p,
			    None, "must specify a volume type"))
	seen = set()
	for kind in ("initContainers", "containers"):
		for i, c in enumerate(spec.get(kind) or []):
			p = "%s.%s[%d]" % (fp, kind, i)
			n = c.get("name") or ""
			if not n:
				errs.append(FieldError("Required", p + ".name"))
			else:
				errs += check_dns_label(p + ".name", n)
			if n and n in seen:
				errs.append(FieldError("Duplicate", p + ".name", n))
			seen.add(n)
			if not c.get("image"):
				errs.append(FieldError("Required", p + ".image"))
			for j, e in enumerate(c.get("env") or []):
				ep = "%s.env[%d]" % (p, j)
				en = e.get("name") or ""
				if not en:
					errs.append(FieldError("Required",
					    ep + ".name"))
				elif not ENV_NAME.match(en):
					errs.append(FieldError("Invalid", ep + ".name",
					    en, "a valid environment variable name "
					    "must consist of alphabetic characters, "
					    "digits, '_', '-', or '.', and must not "
					    "start with a digit (e.g. 'my.env-name',  "
					    "or 'MY_ENV.NAME',  or 'MyEnvName1', regex "
					    "used for validation is "
					    "'[-._a-zA-Z][-._a-zA-Z0-9]*')"))
				vf = e.get("valueFrom")
				if vf is not None and e.get("value"):
					errs.append(FieldError("Invalid", ep +
					    ".valueFrom", "", "may not be specified "
					    "when `value` is not empty"))
				if vf is not None:
					skr = vf.get("secretKeyRef")
					if skr is not None:
						if not skr.get("key"):
							errs.append(FieldError("Required", ep +
							    ".valueFrom.secretKeyRef.key"))
						if not skr.get("name"):
							errs.append(FieldError("Required", ep +
							    ".valueFrom.secretKeyRef.name"))
			for j, vm in enumerate(c.get("volumeMounts") or []):
				vp = "%s.volumeMounts[%d]" % (p, j)
				if vm.get("name") not in vols:
					errs.append(FieldError("NotFound",
					    vp + ".name", vm.get("name")))
				if not vm.get("mountPath"):
					errs.append(FieldError("Required",
					    vp + ".mountPath"))
			res = c.get("resources") or {}
			for kind2 in ("limits", "requests"):
				for r, v in (res.get(kind2) or {}).items():
					if qparse(v) < 0:
						errs.append(FieldError("Invalid", "%s."
						    "resources.%s[%s]" % (p, kind2, r), v,
						    "must be greater than or equal to 0"))
			for r, v in (res.get("requests") or {}).items():
				lim = (res.get("limits") or {}).get(r)
				if lim is not None and qparse(v) > qparse(lim):
					errs.append(FieldError("Invalid",
					    p + ".resources.requests", v,
					    "must be less than or equal to %s limit "
					    "of %s" % (r, lim)))
	rp = spec.get("restartPolicy")
	if job:
		if rp not in ("OnFailure", "Never"):
			if rp == "Always":
				errs.append(FieldError("Required",
				    fp + ".restartPolicy", None,
				    'valid values: "OnFailure", "Never"'))
			else:
				errs.append(FieldError("NotSupported",
				    fp + ".restartPolicy", rp,
				    'supported values: "OnFailure", "Never"'))
	elif rp not in ("Always", "OnFailure", "Never"):
		errs.append(FieldError("NotSupported", fp + ".restartPolicy",
		    rp, 'supported values: "Always", "OnFailure", "Never"'))
	ads = spec.get("activeDeadlineSeconds")
	if ads is not None and ads <= 0:
		errs.append(FieldError("Invalid", fp + ".activeDeadlineSeconds",
		    ads, "must be between 1 and 2147483647, inclusive"))
	return errs


def default_and_validate(res, obj, ns, old=None):
	"""Applies the API's defaults, then returns a list of FieldErrors."""
	md = obj["metadata"]
	errs = []
	name = md.get("name") or ""
	if res.name_rule == "label":
		errs += check_dns_label("metadata.name", name)
	elif res.name_rule == "subdomain":
		errs += check_dns_subdomain("metadata.name", name)
	else:
		errs += check_path_segment("metadata.name", name)
	errs += check_labels("metadata.labels", md.get("labels"))
	if res.plural == "namespaces":
		md.setdefault("labels", {})["kubernetes.io/metadata.name"] = \
		    name
		obj.setdefault("spec", {}).setdefault("finalizers",
		    ["kubernetes"])
		if old is None:
			obj["status"] = {"phase": "Active"}
		else:
			obj["status"] = old.get("status")
	elif res.plural == "pods":
		spec = obj.setdefault("spec", {})
		default_pod_spec(spec)
		errs += validate_pod_spec(spec, "spec")
		if old is None:
			obj["status"] = {"phase": "Pending",
			    "qosClass": qos_class(spec) if not errs else "BestEffort"}
	elif res.plural == "jobs":
		spec = obj.setdefault("spec", {})
		spec.setdefault("parallelism", 1)
		spec.setdefault("completions", 1)
		spec.setdefault("backoffLimit", 6)
		spec.setdefault("completionMode", "NonIndexed")
		spec.setdefault("suspend", False)
		spec.setdefault("manualSelector", None)
		if spec["manualSelector"] is None:
			del spec["manualSelector"]
		spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
		tmpl = spec.setdefault("template", {})
		tmd = tmpl.setdefault("metadata", {})
		if old is None:
			uid = md.setdefault("uid", new_uid())
			if spec.get("selector") is not None and \
			    not spec.get("manualSelector"):
				errs.append(FieldError("Invalid", "spec.selector",
				    spec["selector"], "`selector` not "
				    "auto-generated"))
			if not spec.get("manualSelector"):
				spec["selector"] = {"matchLabels": {
				    "batch.kubernetes.io/controller-uid": uid}}
				tl = tmd.setdefault("labels", {})
				tl["batch.kubernetes.io/controller-uid"] = uid
				tl["batch.kubernetes.io/job-name"] = name
				tl["controller-uid"] = uid
				tl["job-name"] = name
				md.setdefault("labels", {})
				md["labels"].setdefault(
				    "batch.kubernetes.io/controller-uid", uid)
				md["labels"].setdefault(
				    "batch.kubernetes.io/job-name", name)
				md["labels"].setdefault("controller-uid", uid)
				md["labels"].setdefault("job-name", name)
		errs += check_labels("spec.template.labels", tmd.get("labels"))
		if len(name) > 63 and not errs:
			errs.append(FieldError("Invalid", "spec.template.labels",
			    name, "must be no more than 63 characters"))
		pspec = tmpl.setdefault("spec", {})
		default_pod_spec(pspec)
		errs += validate_pod_spec(pspec, "spec.template.spec", job=True)
		for f in ("backoffLimit", "parallelism", "completions",
		    "ttlSecondsAfterFinished"):
			v = spec.get(f)
			if v is not None and v < 0:
				errs.append(FieldError("Invalid", "spec." + f, v,
				    "must be greater than or equal to 0"))
		ads = spec.get("activeDeadlineSeconds")
		if ads is not None and ads <= 0:
			errs.append(FieldError("Invalid",
			    "spec.activeDeadlineSeconds", ads,
			    "must be greater than or equal to 0"))
		if old is None:
			obj["status"] = {}
	elif res.plural == "secrets":
		obj.setdefault("type", "Opaque")
		data = obj.get("data") or {}
		for k, v in (obj.pop("stringData", None) or {}).items():
			data[k] = base64.b64encode(v.encode()).decode()
		if data:
			obj["data"] = data
		total = 0
		for k, v in data.items():
			if not CONFIG_KEY.match(k):
				errs.append(FieldError("Invalid", "data[%s]" % k, k,
				    "a valid config key must consist of alphanumeric "
				    "characters, '-', '_' or '.' (e.g. 'key.name',  "
				    "or 'KEY_NAME',  or 'key-name', regex used for "
				    "validation is '[-._a-zA-Z0-9]+')"))
			total += len(base64.b64decode(v))
		if total > 1048576:
			errs.append(FieldError("TooLong", "data", None,
			    "must have at most 1048576 bytes"))
	elif res.plural == "resourcequotas":
		if old is None:
			obj["status"] = {}
	elif res.plural == "rolebindings":
		rr = obj.get("roleRef") or {}
		if not rr.get("name"):
			errs.append(FieldError("Required", "roleRef.name"))
		if rr.get("kind") not in ("Role", "ClusterRole"):
			errs.append(FieldError("NotSupported", "roleRef.kind",
			    rr.get("kind"), 'supported values: "Role", '
			    '"ClusterRole"'))
		if rr.get("apiGroup") != "rbac.authorization.k8s.io":
			errs.append(FieldError("NotSupported", "roleRef.apiGroup",
			    rr.get("apiGroup"),
			    'supported values: "rbac.authorization.k8s.io"'))
		if old is not None and old.get("roleRef") != obj.get("roleRef"):
			errs.append(FieldError("Invalid", "roleRef", rr,
			    "cannot change roleRef"))
		for i, s in enumerate(obj.get("subjects") or []):
			if s.get("kind") == "ServiceAccount" and \
			    not s.get("namespace"):
				errs.append(FieldError("Required",
				    "subjects[%d].namespace" % i))
	elif res.plural == "networkpolicies":
		spec = obj.setdefault("spec", {})
		spec.setdefault("podSelector", {})
		if "policyTypes" not in spec:
			pt = ["Ingress"]
			if spec.get("egress"):
				pt.append("Egress")
			spec["policyTypes"] = pt
		for i, t in enumerate(spec["policyTypes"]):
			if t not in ("Ingress", "Egress"):
				errs.append(FieldError("NotSupported",
				    "spec.policyTypes[%d]" % i, t,
				    'supported values: "Ingress", "Egress"'))
		for i, rule in enumerate(spec.get("egress") or []):
			for j, peer in enumerate(rule.get("to") or []):
				cidr = (peer.get("ipBlock") or {}).get("cidr")
				if cidr is not None and not re.match(
				    r"^[0-9a-fA-F:.]+/[0-9]{1,3}$", cidr):
					errs.append(FieldError("Invalid",
					    "spec.egress[%d].to[%d].ipBlock.cidr" % (
					    i, j), cidr, "must be a valid CIDR value, "
					    "(e.g. 10.9.8.0/24 or 2001:db8::/64)"))
	elif res.plural == "limitranges":
		for i, item in enumerate((obj.get("spec") or {}).get("limits")
		    or []):
			if item.get("type") not in ("Container", "Pod",
			    "PersistentVolumeClaim"):
				errs.append(FieldError("NotSupported",
				    "spec.limits[%d].type" % i, item.get("type"),
				    'supported values: "Container", "Pod", '
				    '"PersistentVolumeClaim"'))
			if item.get("type") == "Container" and \
			    "default" in item and "defaultRequest" not in item:
				item["defaultRequest"] = dict(item["default"])
	return errs


# ---------------------------------------------------------------------------
# Operations: create, update, patch, delete (with admission)
# ---------------------------------------------------------------------------

class Ctx:
	"""Per-request context: warnings, dry run, field validation."""

	def __init__(self, params=None, user="system:admin"):
		params = params or {}
		self.warnings = []
		self.dry_run = params.get("dryRun") == "All"
		fv = params.get("fieldValidation") or CFG.field_validation
		self.field_validation = fv
		self.user = user


INTERNAL = None


def decode_body(res, body, ctx):
	try:
		obj = json.loads(body.decode("utf-8") if isinstance(body, bytes)
		    else body)
	except (ValueError, UnicodeDecodeError) as e:
		raise err_bad_request("couldn't get version/kind; json parse "
		    "error: %s" % e)
	if not isinstance(obj, dict):
		raise err_bad_request("couldn't get version/kind; json parse "
		    "error: json: cannot unmarshal %s into Go value of type "
		    "struct { APIVersion string \"json:\\\"apiVersion,"
		    "omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\""
		    "\" }" % _jtype(obj))
	return validate_structure(res, obj, ctx)


def validate_structure(res, obj, ctx):
	av = obj.get("apiVersion")
	if av is not None and av != res.api_version:
		raise err_bad_request("the API version in the data (%s) does not "
		    "match the expected API version (%s)" % (av,
		    res.api_version))
	kind = obj.get("kind")
	if kind is not None and kind != res.kind:
		raise err_bad_request("the kind in the data (%s) does not match "
		    "the expected kind (%s)" % (kind, res.kind))
	unknown = []
	typeerrs = []
	check_model(res.model, obj, "", unknown, typeerrs)
	prefix = '%s in version "%s" cannot be handled as a %s: ' % (
	    res.kind, res.version, res.kind)
	if typeerrs:
		raise err_bad_request(prefix + typeerrs[0])
	if unknown:
		msgs = ['unknown field "%s"' % u for u in unknown]
		if ctx.field_validation == "Strict":
			raise err_bad_request(prefix + "strict decoding error: " +
			    ", ".join(msgs))
		if ctx.field_validation != "Ignore":
			ctx.warnings += msgs
		drop_unknown(res.model, obj)
	obj.pop("kind", None)
	obj.pop("apiVersion", None)
	obj.setdefault("metadata", {})
	if not isinstance(obj["metadata"], dict):
		obj["metadata"] = {}
	return obj


def drop_unknown(model_name, value):
	cls = getattr(kmodels, model_name, None)
	if cls is None or not isinstance(value, dict):
		m = re.match(r"^list\[(.*)\]$", model_name)
		if m and isinstance(value, list):
			for v in value:
				drop_unknown(m.group(1), v)
		return
	rev = {v: k for k, v in cls.attribute_map.items()}
	for k in list(value):
		if k in rev:
			drop_unknown(cls.openapi_types[rev[k]], value[k])
		elif k not in NEWER_FIELDS.get(model_name, []) and \
		    k not in ("kind", "apiVersion"):
			del value[k]


def check_namespace(res, ns, name):
	if not res.namespaced:
		return
	nso = ST.get(BY_PLURAL["namespaces"], "", ns)
	if nso is None:
		raise err_ns_not_found(ns)
	if (nso.get("status") or {}).get("phase") == "Terminating":
		why = "unable to create new content in namespace %s because " \
		    "it is being terminated" % ns
		raise err_forbidden(res, name, why, [{
		    "reason": "NamespaceTerminating", "message": why,
		    "field": "metadata.namespace"}])


def create(res, ns, obj, ctx, internal=False):
	"""Creates obj (already decoded).  Returns the stored object."""
	md = obj.setdefault("metadata", {})
	if res.namespaced:
		if md.get("namespace") and md["namespace"] != ns:
			raise err_bad_request("the namespace of the provided object "
			    "does not match the namespace sent on the request")
		md["namespace"] = ns
	else:
		md.pop("namespace", None)
	with ST.lock:
		if not md.get("name"):
			gn = md.get("generateName")
			if gn:
				md["name"] = gn[:58] + rand_suffix()
			else:
				raise err_invalid(res, "", [FieldError("Required",
				    "metadata.name", None,
				    "name or generateName is required")])
		name = md["name"]
		for f in ("uid", "resourceVersion", "creationTimestamp",
		    "deletionTimestamp", "deletionGracePeriodSeconds",
		    "generation", "selfLink"):
			md.pop(f, None)
		check_namespace(res, ns, name)
		errs = default_and_validate(res, obj, ns)
		if res.plural == "pods":
			admit_pod_mutating(ns, obj, ctx)
			errs = validate_pod_spec(obj["spec"], "spec") or errs
		if errs:
			raise err_invalid(res, name, errs)
		if ST.get(res, ns, name) is not None:
			raise err_already_exists(res, name)
		if res.plural == "pods":
			admit_pod_validating(ns, obj, ctx)
		elif res.plural == "jobs":
			psa_warn_template(ns, obj, ctx)
		if res.plural != "pods":
			msg = quota_admit(res, ns, obj, name)
			if msg:
				raise err_forbidden(res, name, msg)
		if ctx.dry_run:
			md.setdefault("uid", new_uid())
			md["creationTimestamp"] = now_rfc3339()
			return obj
		md.setdefault("uid", new_uid())
		md["creationTimestamp"] = now_rfc3339()
		if res.plural in ("jobs", "networkpolicies"):
			md["generation"] = 1
		ST.put_new(res, obj)
		after_create(res, ns, obj)
		return obj


def admit_pod_mutating(ns, pod, ctx):
	ann = limitranger_admit(ns, pod, pod["metadata"]["name"])
	if ann:
		pod["metadata"].setdefault("annotations", {})[
		    "kubernetes.io/limit-ranger"] = ann
	spec = pod["spec"]
	sa_name = spec.get("serviceAccountName") or \
	    spec.get("serviceAccount") or "default"
	spec["serviceAccountName"] = sa_name
	spec["serviceAccount"] = sa_name
	sa = ST.get(BY_PLURAL["serviceaccounts"], ns, sa_name)
	automount = spec.get("automountServiceAccountToken")
	if automount is None and sa is not None:
		automount = sa.get("automountServiceAccountToken")
	if automount is None:
		automount = True
	if automount and sa is not None:
		vname = "kube-api-access-" + rand_suffix()
		spec.setdefault("volumes", []).append({"name": vname,
		    "projected": {"defaultMode": 420, "sources": [
		    {"serviceAccountToken": {"expirationSeconds": 3607,
		    "path": "token"}},
		    {"configMap": {"name": "kube-root-ca.crt",
		    "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
		    {"downwardAPI": {"items": [{"path": "namespace",
		    "fieldRef": {"apiVersion": "v1",
		    "fieldPath": "metadata.namespace"}}]}}]}})
		for c in _containers(spec):
			c.setdefault("volumeMounts", []).append({"name": vname,
			    "readOnly": True, "mountPath":
			    "/var/run/secrets/kubernetes.io/serviceaccount"})
	pod["_sa_missing"] = sa is None


def admit_pod_validating(ns, pod, ctx):
	res = BY_PLURAL["pods"]
	name = pod["metadata"]["name"]
	msg = limitranger_validate(ns, pod)
	if msg:
		raise err_forbidden(res, name, msg)
	if pod.pop("_sa_missing", False):
		sa = pod["spec"]["serviceAccountName"]
		raise err_forbidden(res, name, 'error looking up service account '
		    '%s/%s: serviceaccount "%s" not found' % (ns, sa, sa))
	nso = ST.get(BY_PLURAL["namespaces"], "", ns)
	levels = psa_levels(nso)
	if "enforce" in levels:
		lvl, ver = levels["enforce"]
		v = psa_evaluate(pod["spec"], lvl)
		if v:
			raise err_forbidden(res, name, 'violates PodSecurity '
			    '"%s:%s": %s' % (lvl, ver, ", ".join(v)))
	if "warn" in levels:
		lvl, ver = levels["warn"]
		v = psa_evaluate(pod["spec"], lvl)
		if v:
			ctx.warnings.append('would violate PodSecurity "%s:%s": %s'
			    % (lvl, ver, ", ".join(v)))
	msg = quota_admit(res, ns, pod, name)
	if msg:
		raise err_forbidden(res, name, msg)


def psa_warn_template(ns, job, ctx):
	"""PSA checks workload templates for warn and audit only."""
	nso = ST.get(BY_PLURAL["namespaces"], "", ns)
	levels = psa_levels(nso)
	if "warn" in levels:
		lvl, ver = levels["warn"]
		v = psa_evaluate(job["spec"]["template"]["spec"], lvl)
		if v:
			ctx.warnings.append('would violate PodSecurity "%s:%s": %s'
			    % (lvl, ver, ", ".join(v)))


def after_create(res, ns, obj):
	if res.plural == "namespaces":
		name = obj["metadata"]["name"]
		# what the serviceaccount and root-ca-cert controllers add
		sa = {"metadata": {"name": "default", "namespace": name}}
		try:
			create(BY_PLURAL["serviceaccounts"], name, sa, Ctx(), True)
			cm = {"metadata": {"name": "kube-root-ca.crt",
			    "namespace": name}, "data": {"ca.crt": CFG.ca_pem}}
			create(BY_PLURAL["configmaps"], name, cm, Ctx(), True)
		except ApiError:
			pass
	elif res.plural == "pods":
		KUBELET.start(obj)
	elif res.plural == "resourcequotas":
		sync_quota(ns, obj["metadata"]["name"])


def sync_quota(ns, name):
	res = BY_PLURAL["resourcequotas"]
	with ST.lock:
		q = ST.get(res, ns, name)
		if q is None:
			return
		hard = (q.get("spec") or {}).get("hard") or {}
		used = quota_used(ns, q)
		status = {"hard": dict(hard), "used": {k: qfmt(v, k)
		    for k, v in used.items()}}
		if q.get("status") != status:
			def fn(o):
				o["status"] = status
				return True
			ST.mutate(res, ns, name, None, fn)


def update(res, ns, name, obj, ctx, subresource=None):
	with ST.lock:
		cur = ST.get(res, ns, name)
		md = obj.setdefault("metadata", {})
		if md.get("name") and md["name"] != name:
			raise err_bad_request("the name of the object (%s) does not "
			    "match the name on the URL (%s)" % (md["name"], name))
		if cur is None:
			raise err_not_found(res, name)
		rv = md.get("resourceVersion")
		if rv and rv != cur["metadata"]["resourceVersion"]:
			raise err_conflict(res, name, "the object has been "
			    "modified; please apply your changes to the latest "
			    "version and try again")
		md["name"] = name
		if res.namespaced:
			md["namespace"] = ns
		for f in ("uid", "creationTimestamp", "deletionTimestamp",
		    "deletionGracePeriodSeconds", "generation",
		    "ownerReferences"):
			if f in cur["metadata"] and (f != "ownerReferences" or
			    f not in md):
				md[f] = cur["metadata"][f]
		if subresource == "status":
			new = copy.deepcopy(cur)
			new["status"] = obj.get("status")
			obj = new
		else:
			if "status" in cur:
				obj["status"] = cur["status"]
			errs = default_and_validate(res, obj, ns, cur)
			errs += immutable_errors(res, cur, obj)
			if errs:
				raise err_invalid(res, name, errs)
			if cur.get("spec") != obj.get("spec") and \
			    "generation" in md:
				md["generation"] = md["generation"] + 1
		if ctx.dry_run:
			return obj
		if md.get("deletionTimestamp") and not md.get("finalizers") and \
		    res.plural not in ("pods", "namespaces"):
			return ST.remove(res, obj)
		ST.put(res, obj)
		if res.plural == "resourcequotas":
			sync_quota(ns, name)
		return obj


def immutable_errors(res, cur, new):
	errs = []
	if res.plural == "jobs":
		for f in ("template", "selector", "completions",
		    "completionMode"):
			if cur["spec"].get(f) != new["spec"].get(f):
				if f == "template":
					# the job's own labels are always there
					a = copy.deepcopy(cur["spec"].get(f))
					b = copy.deepcopy(new["spec"].get(f))
					if a == b:
						continue
				errs.append(FieldError("Invalid", "spec." + f,
				    new["spec"].get(f), "field is immutable"))
	elif res.plural == "pods":
		a = copy.deepcopy(cur["spec"])
		b = copy.deepcopy(new["spec"])
		for s in (a, b):
			for c in _containers(s):
				c.pop("image", None)
			s.pop("activeDeadlineSeconds", None)
			s.pop("tolerations", None)
		if a != b:
			errs.append(FieldError("Forbidden", "spec", None,
			    "pod updates may not change fields other than "
			    "`spec.containers[*].image`,"
			    "`spec.initContainers[*].image`,"
			    "`spec.activeDeadlineSeconds`,"
			    "`spec.tolerations` (only additions to existing "
			    "tolerations),`spec.terminationGracePeriodSeconds` "
			    "(allow it to be set to 1 if it was previously "
			    "negative)"))
	elif res.plural == "secrets" and cur.get("immutable"):
		if cur.get("data") != new.get("data"):
			errs.append(FieldError("Forbidden", "data", None,
			    "field is immutable when `immutable` is set"))
	return errs


def merge_patch(target, patch):
	if not isinstance(patch, dict):
		return copy.deepcopy(patch)
	if not isinstance(target, dict):
		target = {}
	out = copy.deepcopy(target)
	for k, v in patch.items():
		if v is None:
			out.pop(k, None)
		else:
			out[k] = merge_patch(out.get(k), v)
	return out


def json_patch(doc, ops):
	doc = copy.deepcopy(doc)
	for op in ops:
		path = [p.replace("~1", "/").replace("~0", "~")
		    for p in op.get("path", "").split("/")[1:]]
		parent = doc
		for p in path[:-1]:
			parent = parent[int(p)] if isinstance(parent, list) else \
			    parent[p]
		last = path[-1] if path else None
		o = op.get("op")
		if o == "test":
			cur = parent[int(last)] if isinstance(parent, list) else \
			    parent.get(last)
			if cur != op.get("value"):
				raise err_code(422)
		elif o in ("add", "replace"):
			if isinstance(parent, list):
				if last == "-":
					parent.append(op["value"])
				elif o == "add":
					parent.insert(int(last), op["value"])
				else:
					parent[int(last)] = op["value"]
			else:
				if o == "replace" and last not in parent:
					raise ApiError(422, "Invalid", "the server "
					    "rejected our request due to an error in "
					    "our request")
				parent[last] = op["value"]
		elif o == "remove":
			if isinstance(parent, list):
				del parent[int(last)]
			else:
				del parent[last]
		else:
			raise err_bad_request("Unknown patch operation %s" % o)
	return doc


def delete(res, ns, name, opts, ctx):
	"""Returns (http code, body)."""
	with ST.lock:
		cur = ST.get(res, ns, name)
		if cur is None:
			raise err_not_found(res, name)
		pre = opts.get("preconditions") or {}
		if pre.get("uid") and pre["uid"] != cur["metadata"]["uid"]:
			raise err_conflict(res, name, "Precondition failed: UID in "
			    "precondition: %s, UID in object meta: %s" % (
			    pre["uid"], cur["metadata"]["uid"]))
		if pre.get("resourceVersion") and pre["resourceVersion"] != \
		    cur["metadata"]["resourceVersion"]:
			raise err_conflict(res, name, "Precondition failed: "
			    "ResourceVersion in precondition: %s, ResourceVersion "
			    "in object meta: %s" % (pre["resourceVersion"],
			    cur["metadata"]["resourceVersion"]))
		if ctx.dry_run:
			return 200, with_kind(res, cur)
		if res.plural == "namespaces":
			return delete_namespace(cur)
		policy = opts.get("propagationPolicy")
		if policy is None and opts.get("orphanDependents") is not None:
			policy = "Orphan" if opts["orphanDependents"] else \
			    "Background"
		if policy is None:
			# batch/v1 Jobs default to orphaning their pods
			policy = "Orphan" if res.plural == "jobs" else "Background"
			if res.plural == "jobs":
				ctx.warnings.append("child pods are preserved by default "
				    "when jobs are deleted; set propagationPolicy="
				    "Background to remove them")
		if policy not in ("Orphan", "Background", "Foreground"):
			raise err_invalid(res, name, [FieldError("NotSupported",
			    "propagationPolicy", policy, 'supported values: '
			    '"Foreground", "Background", "Orphan", "nil"')])
		if res.plural == "pods":
			grace = opts.get("gracePeriodSeconds")
			return 200, with_kind(res, delete_pod(cur, grace))
		md = cur["metadata"]
		if md.get("deletionTimestamp"):
			return 200, with_kind(res, cur)
		if policy == "Orphan":
			orphan_dependents(md["uid"])
		if policy == "Foreground" and dependents(md["uid"]):
			def fn(o):
				o["metadata"]["deletionTimestamp"] = now_rfc3339()
				o["metadata"]["deletionGracePeriodSeconds"] = 0
				fz = o["metadata"].setdefault("finalizers", [])
				if "foregroundDeletion" not in fz:
					fz.append("foregroundDeletion")
				return True
			obj = ST.mutate(res, ns, name, md["uid"], fn)
			return 200, with_kind(res, obj)
		if md.get("finalizers"):
			def fn2(o):
				o["metadata"]["deletionTimestamp"] = now_rfc3339()
				o["metadata"]["deletionGracePeriodSeconds"] = 0
				return True
			obj = ST.mutate(res, ns, name, md["uid"], fn2)
			return 200, with_kind(res, obj)
		ST.remove(res, cur)
		if res.plural == "resourcequotas":
			pass
		return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
		    "status": "Success", "details": _details(res, name,
		    uid=md["uid"])}


def dependents(uid):
	out = []
	for (plural, ns, name), o in list(ST.objs.items()):
		for ref in o["metadata"].get("ownerReferences") or []:
			if ref.get("uid") == uid:
				out.append((BY_PLURAL[plural], o))
	return out


def orphan_dependents(uid):
	for res, o in dependents(uid):
		def fn(obj):
			refs = [r for r in obj["metadata"].get("ownerReferences")
			    or [] if r.get("uid") != uid]
			if refs:
				obj["metadata"]["ownerReferences"] = refs
			else:
				obj["metadata"].pop("ownerReferences", None)
			return True
		ST.mutate(res, o["metadata"].get("namespace"),
		    o["metadata"]["name"], o["metadata"]["uid"], fn)


def delete_pod(cur, grace):
	res = BY_PLURAL["pods"]
	md = cur["metadata"]
	if grace is None:
		grace = cur["spec"].get("terminationGracePeriodSeconds", 30)
	if md.get("deletionTimestamp") and grace >= \
	    md.get("deletionGracePeriodSeconds", 0):
		return cur

	def fn(o):
		o["metadata"]["deletionTimestamp"] = now_rfc3339()
		o["metadata"]["deletionGracePeriodSeconds"] = grace
		return True
	obj = ST.mutate(res, md["namespace"], md["name"], md["uid"], fn)
	KUBELET.kill(obj, grace)
	return obj


def delete_namespace(cur):
	res = BY_PLURAL["namespaces"]
	name = cur["metadata"]["name"]
	if name in ("default", "kube-system", "kube-public"):
		raise err_forbidden(res, name, "this namespace may not be "
		    "deleted")
	if (cur.get("status") or {}).get("phase") == "Terminating":
		raise err_conflict(res, name, "The system is ensuring all "
		    "content is removed from this namespace.  Upon completion, "
		    "this namespace will automatically be purged by the system.")

	def fn(o):
		o["metadata"]["deletionTimestamp"] = now_rfc3339()
		o["status"] = {"phase": "Terminating"}
		o["_terminating_since"] = time.time()
		return True
	obj = ST.mutate(res, "", name, cur["metadata"]["uid"], fn)
	return 200, with_kind(res, strip_internal(obj))


def strip_internal(obj):
	if obj is None:
		return obj
	return {k: v for k, v in obj.items() if not k.startswith("_")}


# ---------------------------------------------------------------------------
# The kubelet: scheduling, image pulls, containers run on this host
# ---------------------------------------------------------------------------

class LogBuf:
	"""One container instance's log: (timestamp, bytes) records."""

	def __init__(self):
		self.recs = []
		self.done = False
		self.cond = threading.Condition()

	def write(self, data):
		with self.cond:
			self.recs.append((now_rfc3339_nano(), data))
			self.cond.notify_all()

	def close(self):
		with self.cond:
			self.done = True
			self.cond.notify_all()


LOGS = {}	# (ns, pod, uid, container) -> [LogBuf, ...]
LOGS_LOCK = threading.Lock()


class PodGone(Exception):
	pass


def forget_logs(uid):
	with LOGS_LOCK:
		for k in [k for k in LOGS if k[2] == uid]:
			del LOGS[k]


def expand_vars(s, env):
	"""$(VAR) expansion as the kubelet does for env, command and args."""
	out = []
	i = 0
	while i < len(s):
		if s.startswith("$$", i):
			out.append("$")
			i += 2
			continue
		if s.startswith("$(", i):
			j = s.find(")", i + 2)
			if j > 0:
				name = s[i + 2:j]
				if name in env:
					out.append(env[name])
					i = j + 1
					continue
		out.append(s[i])
		i += 1
	return "".join(out)


def qos_class(spec):
	ctrs = _containers(spec, init=False)
	any_set = False
	guaranteed = True
	for c in ctrs:
		r = c.get("resources") or {}
		req = r.get("requests") or {}
		lim = r.get("limits") or {}
		if req or lim:
			any_set = True
		for k in ("cpu", "memory"):
			if k not in lim or qparse(req.get(k, lim[k])) != \
			    qparse(lim[k]):
				guaranteed = False
	if not any_set:
		return "BestEffort"
	return "Guaranteed" if guaranteed else "Burstable"


class PodRun(threading.Thread):
	def __init__(self, pod):
		threading.Thread.__init__(self, daemon=True)
		md = pod["metadata"]
		self.ns = md["namespace"]
		self.name = md["name"]
		self.uid = md["uid"]
		self.spec = copy.deepcopy(pod["spec"])
		self.lock = threading.Lock()
		self.deleting = threading.Event()
		self.grace = 30
		self.finished = False
		self.procs = {}
		self.cstat = {}
		self.started_at = None
		self.phase = "Pending"
		self.reason = None
		self.message = None
		self.conds = {}
		self.dir = None
		self.mounts = []
		self.deadline_hit = False

	# -- status ---------------------------------------------------------
	def push(self):
		def fn(o):
			st = o.setdefault("status", {})
			st["phase"] = self.phase
			st["conditions"] = [dict(v, type=k) for k, v in
			    self.conds.items()]
			st["qosClass"] = qos_class(self.spec)
			if self.reason:
				st["reason"] = self.reason
				st["message"] = self.message
			if self.started_at:
				st["startTime"] = self.started_at
				st["hostIP"] = "127.0.0.1"
				st["hostIPs"] = [{"ip": "127.0.0.1"}]
				st["podIP"] = "127.0.0.1"
				st["podIPs"] = [{"ip": "127.0.0.1"}]
			init = [copy.deepcopy(self.cstat[c["name"]])
			    for c in self.spec.get("initContainers") or []
			    if c["name"] in self.cstat]
			main = [copy.deepcopy(self.cstat[c["name"]])
			    for c in self.spec.get("containers") or []
			    if c["name"] in self.cstat]
			if init:
				st["initContainerStatuses"] = init
			if main:
				st["containerStatuses"] = main
			return True
		if ST.mutate(BY_PLURAL["pods"], self.ns, self.name, self.uid,
		    fn) is None:
			raise PodGone()

	def cond(self, typ, status, reason=None, message=None):
		c = {"status": status, "lastProbeTime": None,
		    "lastTransitionTime": now_rfc3339()}
		old = self.conds.get(typ)
		if old and old["status"] == status:
			c["lastTransitionTime"] = old["lastTransitionTime"]
		if reason:
			c["reason"] = reason
		if message:
			c["message"] = message
		self.conds[typ] = c

	def pod(self):
		p = ST.get(BY_PLURAL["pods"], self.ns, self.name)
		if p is None or p["metadata"]["uid"] != self.uid:
			raise PodGone()
		return p

	def event(self, etype, reason, msg, component="kubelet"):
		try:
			record_event(BY_PLURAL["pods"], self.pod(), etype, reason,
			    msg, component, NODE_NAME if component == "kubelet"
			    else None)
		except PodGone:
			pass

	def cs(self, c, state, ready=False, restarts=None, last=None):
		old = self.cstat.get(c["name"]) or {}
		s = {"name": c["name"], "state": state,
		    "lastState": last if last is not None else
		    old.get("lastState", {}), "ready": ready,
		    "restartCount": restarts if restarts is not None else
		    old.get("restartCount", 0), "image": c.get("image"),
		    "imageID": "", "started": "running" in state}
		if "running" in state or "terminated" in state:
			s["imageID"] = "double://sha256:" + "%064x" % (
			    abs(hash(c.get("image"))) % (1 << 255))
			cid = (state.get("running") or state.get("terminated") or
			    {}).get("containerID") or old.get("containerID")
			if cid:
				s["containerID"] = cid
		self.cstat[c["name"]] = s

	def sleep(self, secs):
		"""Sleeps, returning True if the pod is being deleted."""
		end = time.time() + secs
		while time.time() < end:
			if self.deleting.wait(min(0.05, max(0, end - time.time()))):
				return True
			if self.check_deadline():
				return True
		return self.deleting.is_set()

	def check_deadline(self):
		ads = self.spec.get("activeDeadlineSeconds")
		if ads and self.started_at and not self.deadline_hit and \
		    time.time() - parse_time(self.started_at) >= ads:
			self.deadline_hit = True
		return self.deadline_hit

	# -- lifecycle ------------------------------------------------------
	def run(self):
		try:
			self._run()
		except PodGone:
			pass
		except Exception:
			log("pod %s/%s: %s" % (self.ns, self.name,
			    traceback.format_exc()))
		finally:
			self._finish()

	def _finish(self):
		for p in list(self.procs.values()):
			self._killpg(p, signal.SIGKILL)
		with self.lock:
			self.finished = True
			deleting = self.deleting.is_set()
		with KUBELET.lock:
			KUBELET.runs.pop(self.uid, None)
		if deleting:
			with ST.lock:
				p = ST.get(BY_PLURAL["pods"], self.ns, self.name)
				if p is not None and p["metadata"]["uid"] == self.uid:
					ST.remove(BY_PLURAL["pods"], p)
			forget_logs(self.uid)
		if self.dir and CFG.keep_pod_dirs is False and deleting:
			shutil.rmtree(self.dir, ignore_errors=True)

	def _run(self):
		for c in self.spec.get("initContainers") or []:
			self.cs(c, {"waiting": {"reason": "PodInitializing"}})
		for c in self.spec.get("containers") or []:
			self.cs(c, {"waiting": {"reason":
			    "PodInitializing" if self.spec.get("initContainers")
			    else "ContainerCreating"}})
		self.cstat_initial = True
		if self.sleep(CFG.kubelet_delay):
			return
		if not self.schedule():
			return
		self.started_at = now_rfc3339()
		self.cond("PodReadyToStartContainers", "True")
		inits = self.spec.get("initContainers") or []
		if inits:
			self.cond("Initialized", "False", "ContainersNotInitialized",
			    "containers with incomplete status: [%s]" % " ".join(
			    c["name"] for c in inits))
		else:
			self.cond("Initialized", "True")
		names = [c["name"] for c in self.spec.get("containers") or []]
		self.cond("Ready", "False", "ContainersNotReady",
		    "containers with unready status: [%s]" % " ".join(names))
		self.cond("ContainersReady", "False", "ContainersNotReady",
		    "containers with unready status: [%s]" % " ".join(names))
		self.push()
		self.setup_dir()
		for c in inits:
			rc = self.run_with_restarts(c, True)
			if rc is None:
				return self.end_deadline()
			if rc != 0:
				self.phase = "Failed"
				self.cond("Initialized", "False",
				    "ContainersNotInitialized",
				    "containers with incomplete status: [%s]" %
				    c["name"])
				self.cond("Ready", "False", "PodCompleted")
				self.cond("ContainersReady", "False", "PodCompleted")
				self.push()
				return
		if inits:
			self.cond("Initialized", "True")
			for c in self.spec.get("containers") or []:
				self.cs(c, {"waiting": {"reason": "ContainerCreating"}})
			self.push()
		results = {}
		threads = []
		for c in self.spec.get("containers") or []:
			t = threading.Thread(target=lambda c=c: results.__setitem__(
			    c["name"], self.run_with_restarts(c, False)),
			    daemon=True)
			t.start()
			threads.append(t)
		for t in threads:
			t.join()
		if any(v is None for v in results.values()):
			return self.end_deadline()
		self.phase = "Succeeded" if all(v == 0 for v in
		    results.values()) else "Failed"
		self.cond("Ready", "False", "PodCompleted")
		self.cond("ContainersReady", "False", "PodCompleted")
		self.push()

	def end_deadline(self):
		if self.deadline_hit and not self.deleting.is_set():
			self.phase = "Failed"
			self.reason = "DeadlineExceeded"
			self.message = "Pod was active on the node longer than the " \
			    "specified deadline"
			self.cond("Ready", "False", "PodFailed")
			self.cond("ContainersReady", "False", "PodFailed")
			self.event("Normal", "DeadlineExceeded", self.message)
			self.push()

	def schedule(self):
		announced = None
		while True:
			if self.deleting.is_set():
				return False
			why = self.fit()
			if why is None:
				break
			if why != announced:
				self.cond("PodScheduled", "False", "Unschedulable", why)
				self.push()
				announced = why
			self.event("Warning", "FailedScheduling", why,
			    "default-scheduler")
			if self.sleep(CFG.schedule_retry):
				return False
		self.cond("PodScheduled", "True")

		def fn(o):
			o["spec"]["nodeName"] = NODE_NAME
			return True
		if ST.mutate(BY_PLURAL["pods"], self.ns, self.name, self.uid,
		    fn) is None:
			raise PodGone()
		self.event("Normal", "Scheduled", "Successfully assigned %s/%s "
		    "to %s" % (self.ns, self.name, NODE_NAME), "default-scheduler")
		return True

	def fit(self):
		sel = self.spec.get("nodeSelector") or {}
		for k, v in sel.items():
			if CFG.node_labels.get(k) != v:
				return "0/1 nodes are available: 1 node(s) didn't " \
				    "match Pod's node affinity/selector. preemption: " \
				    "0/1 nodes are available: 1 Preemption is not " \
				    "helpful for scheduling."
		with ST.lock:
			used = {"cpu": F(0), "memory": F(0), "pods": 0}
			for p in ST.list(BY_PLURAL["pods"]):
				if p["metadata"]["uid"] == self.uid or \
				    not p["spec"].get("nodeName") or pod_terminal(p):
					continue
				r = pod_resources(p["spec"])["requests"]
				used["cpu"] += r.get("cpu", F(0))
				used["memory"] += r.get("memory", F(0))
				used["pods"] += 1
		want = pod_resources(self.spec)["requests"]
		short = []
		if used["pods"] + 1 > CFG.node_pods:
			short.append("1 Too many pods")
		if used["cpu"] + want.get("cpu", F(0)) > CFG.node_cpu:
			short.append("1 Insufficient cpu")
		if used["memory"] + want.get("memory", F(0)) > CFG.node_memory:
			short.append("1 Insufficient memory")
		if not short:
			return None
		return "0/1 nodes are available: %s. preemption: 0/1 nodes are " \
		    "available: 1 No preemption victims found for incoming " \
		    "pod." % ", ".join(short)

	def setup_dir(self):
		self.dir = os.path.join(CFG.pods_dir, "%s_%s_%s" % (self.ns,
		    self.name, self.uid[:8]))
		os.makedirs(self.dir, exist_ok=True)
		os.chmod(self.dir, 0o755)
		root = os.path.join(self.dir, "root")
		os.makedirs(root, exist_ok=True)
		os.chmod(root, 0o777)
		vols = {}
		for v in self.spec.get("volumes") or []:
			d = os.path.join(self.dir, "volumes", v["name"])
			os.makedirs(d, exist_ok=True)
			os.chmod(d, 0o777)
			vols[v["name"]] = d
			if "secret" in v:
				s = ST.get(BY_PLURAL["secrets"], self.ns,
				    v["secret"].get("secretName"))
				for k, val in ((s or {}).get("data") or {}).items():
					with open(os.path.join(d, k), "wb") as f:
						f.write(base64.b64decode(val))
			if "configMap" in v:
				cm = ST.get(BY_PLURAL["configmaps"], self.ns,
				    v["configMap"].get("name"))
				for k, val in ((cm or {}).get("data") or {}).items():
					with open(os.path.join(d, k), "w") as f:
						f.write(val)
		self.vols = vols

	def mounts_for(self, c):
		m = []
		for vm in c.get("volumeMounts") or []:
			d = self.vols.get(vm["name"])
			if d is None:
				continue
			if vm.get("subPath"):
				d = os.path.join(d, vm["subPath"])
				os.makedirs(d, exist_ok=True)
			m.append((vm["mountPath"].rstrip("/") or "/", d))
		m.sort(key=lambda x: -len(x[0]))
		return m

	def rewrite(self, s, mounts):
		for mp, d in mounts:
			s = re.sub(r"(?<![\w.\-/])" + re.escape(mp) +
			    r"(?=/|$|[^\w.\-])", lambda _m, d=d: d, s)
		return s

	def image_pull(self, c):
		"""Returns True once the image is 'present', None if the pod
		goes away while the pull keeps failing."""
		img = c.get("image") or ""
		repo = img.split("@")[0].rsplit(":", 1)[0] if \
		    ":" in img.split("/")[-1] else img.split("@")[0]
		if re.search(r"[A-Z]", repo):
			msg = 'Failed to apply default image tag "%s": couldn\'t ' \
			    'parse image name "%s": invalid reference format: ' \
			    'repository name (library/%s) must be lowercase' % (
			    img, img, repo)
			self.cs(c, {"waiting": {"reason": "InvalidImageName",
			    "message": msg}})
			self.push()
			self.event("Warning", "InspectFailed", msg)
			while not self.sleep(1):
				pass
			return None
		if CFG.unpullable.search(img):
			full = img if "/" in img.split(":")[0] else \
			    "docker.io/library/" + img
			if ":" not in full.split("/")[-1] and "@" not in full:
				full += ":latest"
			detail = 'rpc error: code = NotFound desc = failed to pull ' \
			    'and unpack image "%s": failed to resolve reference ' \
			    '"%s": %s: not found' % (full, full, full)
			n = 0
			while True:
				self.event("Normal", "Pulling", 'Pulling image "%s"' %
				    img)
				self.cs(c, {"waiting": {"reason": "ErrImagePull",
				    "message": detail}})
				self.push()
				self.event("Warning", "Failed", 'Failed to pull image '
				    '"%s": %s' % (img, detail))
				self.event("Warning", "Failed", "Error: ErrImagePull")
				if self.sleep(CFG.pull_backoff):
					return None
				self.cs(c, {"waiting": {"reason": "ImagePullBackOff",
				    "message": 'Back-off pulling image "%s"' % img}})
				self.push()
				self.event("Normal", "BackOff", 'Back-off pulling image '
				    '"%s"' % img)
				self.event("Warning", "Failed", "Error: ImagePullBackOff")
				n += 1
				if self.sleep(min(CFG.pull_backoff * (2 ** n), 10)):
					return None
		if c.get("imagePullPolicy") == "Always":
			self.event("Normal", "Pulling", 'Pulling image "%s"' % img)
			self.event("Normal", "Pulled", 'Successfully pulled image '
			    '"%s" in 3ms (3ms including waiting). Image size: '
			    '4269694 bytes.' % img)
		else:
			self.event("Normal", "Pulled", 'Container image "%s" already '
			    'present on machine' % img)
		return True

	def container_env(self, c):
		"""Returns (env dict, error message)."""
		pod = self.pod()
		# $(VAR) references see the service variables and the
		# container's own env, not what the runtime adds (PATH, HOSTNAME)
		env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1",
		    "KUBERNETES_SERVICE_PORT": str(CFG.port),
		    "KUBERNETES_SERVICE_PORT_HTTPS": str(CFG.port),
		    "KUBERNETES_PORT": "tcp://127.0.0.1:%d" % CFG.port}
		for ef in c.get("envFrom") or []:
			pre = ef.get("prefix") or ""
			if "secretRef" in ef:
				s = ST.get(BY_PLURAL["secrets"], self.ns,
				    ef["secretRef"].get("name"))
				if s is None:
					if ef["secretRef"].get("optional"):
						continue
					return None, 'secret "%s" not found' % \
					    ef["secretRef"].get("name")
				for k, v in (s.get("data") or {}).items():
					env[pre + k] = base64.b64decode(v).decode(
					    "utf-8", "replace")
			if "configMapRef" in ef:
				cm = ST.get(BY_PLURAL["configmaps"], self.ns,
				    ef["configMapRef"].get("name"))
				if cm is None:
					if ef["configMapRef"].get("optional"):
						continue
					return None, 'configmap "%s" not found' % \
					    ef["configMapRef"].get("name")
				for k, v in (cm.get("data") or {}).items():
					env[pre + k] = v
		for e in c.get("env") or []:
			vf = e.get("valueFrom")
			if vf is None:
				env[e["name"]] = expand_vars(e.get("value") or "", env)
				continue
			if "secretKeyRef" in vf:
				ref = vf["secretKeyRef"]
				s = ST.get(BY_PLURAL["secrets"], self.ns, ref["name"])
				if s is None:
					if ref.get("optional"):
						continue
					return None, 'secret "%s" not found' % ref["name"]
				data = s.get("data") or {}
				if ref["key"] not in data:
					if ref.get("optional"):
						continue
					return None, "couldn't find key %s in Secret " \
					    "%s/%s" % (ref["key"], self.ns, ref["name"])
				env[e["name"]] = base64.b64decode(
				    data[ref["key"]]).decode("utf-8", "replace")
			elif "configMapKeyRef" in vf:
				ref = vf["configMapKeyRef"]
				cm = ST.get(BY_PLURAL["configmaps"], self.ns,
				    ref["name"])
				if cm is None or ref["key"] not in (cm.get("data")
				    or {}):
					if ref.get("optional"):
						continue
					if cm is None:
						return None, 'configmap "%s" not found' % \
						    ref["name"]
					return None, "couldn't find key %s in " \
					    "ConfigMap %s/%s" % (ref["key"], self.ns,
					    ref["name"])
				env[e["name"]] = cm["data"][ref["key"]]
			elif "fieldRef" in vf:
				fpath = vf["fieldRef"].get("fieldPath", "")
				m = re.match(r"^metadata\.(labels|annotations)\['(.*)'\]$",
				    fpath)
				if m:
					env[e["name"]] = (pod["metadata"].get(m.group(1))
					    or {}).get(m.group(2), "")
				else:
					val = {"spec.nodeName": NODE_NAME,
					    "status.podIP": "127.0.0.1",
					    "status.hostIP": "127.0.0.1",
					    "spec.serviceAccountName":
					    self.spec.get("serviceAccountName")}.get(fpath)
					env[e["name"]] = val if val is not None else \
					    field_value(pod, fpath)
			elif "resourceFieldRef" in vf:
				rname = vf["resourceFieldRef"].get("resource", "")
				kind, _, r = rname.partition(".")
				v = ((c.get("resources") or {}).get(kind) or {}).get(r)
				env[e["name"]] = str(int(qparse(v))) if v else "0"
		return env, None

	def run_user(self, c):
		psc = self.spec.get("securityContext") or {}
		sc = c.get("securityContext") or {}
		uid = sc.get("runAsUser", psc.get("runAsUser"))
		gid = sc.get("runAsGroup", psc.get("runAsGroup"))
		nonroot = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
		img_uid = 65532 if CFG.nonroot_images.search(c.get("image", "")) \
		    else 0
		eff = uid if uid is not None else img_uid
		if nonroot and eff == 0:
			pod_ref = "%s_%s(%s)" % (self.name, self.ns, self.uid)
			if uid is not None:
				return None, None, "container's runAsUser breaks " \
				    "non-root policy (pod: \"%s\", container: %s)" % (
				    pod_ref, c["name"])
			return None, None, "container has runAsNonRoot and image " \
			    "will run as root (pod: \"%s\", container: %s)" % (
			    pod_ref, c["name"])
		return eff, gid if gid is not None else 0, None

	def run_with_restarts(self, c, init):
		restarts = 0
		while True:
			rc = self.run_container(c, init)
			policy = self.spec.get("restartPolicy")
			if rc is None or policy == "Never" or (rc == 0 and
			    (init or policy != "Always")):
				return rc
			restarts += 1
			st = self.cstat[c["name"]]
			last = {"terminated": st["state"]["terminated"]}
			self.cs(c, {"waiting": {"reason": "CrashLoopBackOff",
			    "message": "back-off %ds restarting failed container=%s "
			    "pod=%s_%s(%s)" % (min(10 * 2 ** (restarts - 1), 300),
			    c["name"], self.name, self.ns, self.uid)}},
			    restarts=restarts, last=last)
			self.push()
			self.event("Warning", "BackOff", "Back-off restarting failed "
			    "container %s in pod %s_%s(%s)" % (c["name"], self.name,
			    self.ns, self.uid))
			if self.sleep(min(CFG.pull_backoff * (2 ** restarts), 5)):
				return None

	def run_container(self, c, init):
		"""Runs one container to its end; returns its exit code, or None
		when the pod is deleted or its deadline passes first."""
		if self.image_pull(c) is None:
			return None
		announced = None
		while True:
			env, why = self.container_env(c)
			uid, gid, why2 = self.run_user(c)
			why = why or why2
			if why is None:
				break
			if why != announced:
				self.cs(c, {"waiting": {"reason":
				    "CreateContainerConfigError", "message": why}})
				self.push()
				announced = why
			self.event("Warning", "Failed", "Error: " + why)
			if self.sleep(1):
				return None
		mounts = self.mounts_for(c)
		argv = list(c.get("command") or []) + list(c.get("args") or [])
		argv = [self.rewrite(expand_vars(a, env), mounts) for a in argv]
		if not argv:
			argv = ["true"]
		runtime = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
		    "/usr/bin:/sbin:/bin", "HOSTNAME": self.name}
		runtime.update(env)
		env = {k: self.rewrite(v, mounts) for k, v in runtime.items()}
		wd = c.get("workingDir")
		cwd = self.rewrite(wd, mounts) if wd else \
		    os.path.join(self.dir, "root")
		if wd and cwd == wd and not os.path.isdir(cwd):
			cwd = os.path.join(self.dir, "root", wd.lstrip("/"))
			os.makedirs(cwd, exist_ok=True)
		env.setdefault("HOME", "/root" if uid == 0 else "/")
		cid = "double://" + pysecrets.token_hex(32)
		self.event("Normal", "Created", "Created container %s" %
		    c["name"])
		lb = LogBuf()
		with LOGS_LOCK:
			LOGS.setdefault((self.ns, self.name, self.uid, c["name"]),
			    []).append(lb)
		kw = {}
		psc = self.spec.get("securityContext") or {}
		if os.geteuid() == 0 and uid and CFG.setuid:
			kw["user"] = uid
			kw["group"] = gid
			groups = list(psc.get("supplementalGroups") or [])
			if psc.get("fsGroup") is not None:
				groups.append(psc["fsGroup"])
			kw["extra_groups"] = groups
			kw["umask"] = 0o002
		started = now_rfc3339()
		try:
			p = subprocess.Popen(argv, cwd=cwd, env=env,
			    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
			    stderr=subprocess.STDOUT, start_new_session=True, **kw)
		except (OSError, subprocess.SubprocessError) as e:
			msg = 'failed to create containerd task: failed to create ' \
			    'shim task: OCI runtime create failed: runc create ' \
			    'failed: unable to start container process: exec: ' \
			    '"%s": %s: unknown' % (argv[0],
			    "executable file not found in $PATH" if isinstance(e,
			    FileNotFoundError) else "permission denied" if
			    isinstance(e, PermissionError) else str(e))
			lb.close()
			self.cs(c, {"terminated": {"exitCode": 128,
			    "reason": "StartError", "message": msg,
			    "startedAt": "1970-01-01T00:00:00Z",
			    "finishedAt": now_rfc3339(), "containerID": cid}})
			self.push()
			self.event("Warning", "Failed", "Error: " + msg)
			return 128
		self.procs[c["name"]] = p
		reader = threading.Thread(target=self._reader, args=(p, lb),
		    daemon=True)
		reader.start()
		self.cs(c, {"running": {"startedAt": started}},
		    ready=not init)
		if not init:
			self.phase = "Running"
			if all("running" in (self.cstat.get(x["name"]) or
			    {}).get("state", {}) for x in self.spec["containers"]):
				self.cond("Ready", "True")
				self.cond("ContainersReady", "True")
		self.push()
		self.event("Normal", "Started", "Started container %s" %
		    c["name"])
		oom = False
		killed = False
		mem_limit = ((c.get("resources") or {}).get("limits") or
		    {}).get("memory")
		mem_limit = qparse(mem_limit) if mem_limit is not None else None
		marker = any("kube-double:oom" in a for a in argv)
		last_mem = 0
		term_sent = None
		while p.poll() is None:
			time.sleep(0.02)
			if marker and not killed:
				oom = killed = True
				self._killpg(p, signal.SIGKILL)
			if mem_limit is not None and time.time() - last_mem > 0.2:
				last_mem = time.time()
				if self._rss(p.pid) > mem_limit and not killed:
					oom = killed = True
					self._killpg(p, signal.SIGKILL)
			if (self.deleting.is_set() or self.check_deadline()) and \
			    term_sent is None:
				term_sent = time.time()
				self._killpg(p, signal.SIGTERM)
			if term_sent is not None and time.time() - term_sent >= \
			    (self.grace if self.deleting.is_set() else 0.5):
				self._killpg(p, signal.SIGKILL)
		rc = p.returncode
		self._killpg(p, signal.SIGKILL)
		reader.join(2)
		lb.close()
		self.procs.pop(c["name"], None)
		if rc < 0:
			rc = 128 - rc
		term = {"exitCode": rc, "reason": "OOMKilled" if oom else
		    "Completed" if rc == 0 else "Error", "startedAt": started,
		    "finishedAt": now_rfc3339(), "containerID": cid}
		self.cs(c, {"terminated": term})
		if not init and self.phase == "Running":
			self.cond("Ready", "False", "ContainersNotReady",
			    "containers with unready status: [%s]" % c["name"])
			self.cond("ContainersReady", "False", "ContainersNotReady",
			    "containers with unready status: [%s]" % c["name"])
		self.push()
		if term_sent is not None:
			if self.deleting.is_set():
				self.event("Normal", "Killing", "Stopping container %s"
				    % c["name"])
			return None
		return rc

	def _reader(self, p, lb):
		fd = p.stdout.fileno()
		pending = b""
		while True:
			try:
				data = os.read(fd, 65536)
			except OSError:
				data = b""
			if not data:
				break
			pending += data
			while b"\n" in pending:
				line, pending = pending.split(b"\n", 1)
				lb.write(line + b"\n")
		if pending:
			lb.write(pending)
		p.stdout.close()

	@staticmethod
	def _killpg(p, sig):
		try:
			os.killpg(p.pid, sig)
		except (ProcessLookupError, PermissionError):
			pass

	@staticmethod
	def _rss(sid):
		total = 0
		for d in os.listdir("/proc"):
			if not d.isdigit():
				continue
			try:
				with open("/proc/%s/stat" % d) as f:
					st = f.read()
			except OSError:
				continue
			fields = st[st.rfind(")") + 2:].split()
			if len(fields) > 21 and fields[3] == str(sid):
				total += int(fields[21]) * 4096
		return total


class Kubelet:
	def __init__(self):
		self.lock = threading.Lock()
		self.runs = {}

	def start(self, pod):
		pr = PodRun(pod)
		with self.lock:
			self.runs[pod["metadata"]["uid"]] = pr
		pr.start()

	def kill(self, pod, grace):
		uid = pod["metadata"]["uid"]
		with self.lock:
			pr = self.runs.get(uid)
		if pr is not None:
			with pr.lock:
				if not pr.finished:
					pr.grace = grace
					pr.deleting.set()
					return
		with ST.lock:
			cur = ST.get(BY_PLURAL["pods"], pod["metadata"]["namespace"],
			    pod["metadata"]["name"])
			if cur is not None and cur["metadata"]["uid"] == uid:
				ST.remove(BY_PLURAL["pods"], cur)
		forget_logs(uid)


KUBELET = Kubelet()


# ---------------------------------------------------------------------------
# Controllers: namespace, garbage collector, Job, TTL-after-finished, quota
# ---------------------------------------------------------------------------

def job_condition(job, typ):
	for c in (job.get("status") or {}).get("conditions") or []:
		if c.get("type") == typ and c.get("status") == "True":
			return c
	return None


class JobState:
	def __init__(self):
		self.counted = set()
		self.next_create = 0.0
		self.create_failures = 0


JOBSTATE = {}


def controllers_loop():
	while True:
		time.sleep(CFG.tick)
		try:
			with ST.lock:
				namespace_controller()
				garbage_collector()
				job_controller()
				for q in ST.list(BY_PLURAL["resourcequotas"]):
					sync_quota(q["metadata"]["namespace"],
					    q["metadata"]["name"])
		except Exception:
			log("controllers: " + traceback.format_exc())


def namespace_controller():
	nsres = BY_PLURAL["namespaces"]
	for ns in ST.list(nsres):
		if (ns.get("status") or {}).get("phase") != "Terminating":
			continue
		name = ns["metadata"]["name"]
		left = 0
		for res in RESOURCES:
			if not res.namespaced:
				continue
			for o in ST.list(res, name):
				left += 1
				md = o["metadata"]
				if res.plural == "pods":
					if not md.get("deletionTimestamp"):
						delete_pod(o, None)
				elif md.get("finalizers"):
					if not md.get("deletionTimestamp"):
						def fn(x):
							x["metadata"]["deletionTimestamp"] = \
							    now_rfc3339()
							return True
						ST.mutate(res, name, md["name"], md["uid"], fn)
				else:
					ST.remove(res, o)
		since = ns.get("_terminating_since", 0)
		if left == 0 and time.time() - since >= CFG.ns_delete_delay:
			ST.remove(nsres, ns)


def garbage_collector():
	uids = {}
	for (plural, ns, name), o in ST.objs.items():
		uids[o["metadata"]["uid"]] = (plural, o)
	for (plural, ns, name), o in list(ST.objs.items()):
		md = o["metadata"]
		refs = md.get("ownerReferences") or []
		res = BY_PLURAL[plural]
		if refs and all(r.get("uid") not in uids for r in refs):
			if plural == "pods":
				if not md.get("deletionTimestamp"):
					delete_pod(o, None)
			elif not md.get("finalizers"):
				ST.remove(res, o)
			continue
		for r in refs:
			owner = uids.get(r.get("uid"))
			if owner and "foregroundDeletion" in (owner[1]["metadata"].get(
			    "finalizers") or []) and owner[1]["metadata"].get(
			    "deletionTimestamp"):
				if plural == "pods":
					if not md.get("deletionTimestamp"):
						delete_pod(o, None)
				elif not md.get("finalizers"):
					ST.remove(res, o)
	# owners waiting in foreground deletion whose dependents are gone
	for (plural, ns, name), o in list(ST.objs.items()):
		md = o["metadata"]
		if md.get("deletionTimestamp") and "foregroundDeletion" in (
		    md.get("finalizers") or []) and not dependents(md["uid"]):
			res = BY_PLURAL[plural]
			fz = [f for f in md["finalizers"] if f != "foregroundDeletion"]
			if fz:
				def fn(x, fz=fz):
					x["metadata"]["finalizers"] = fz
					return True
				ST.mutate(res, ns, name, md["uid"], fn)
			else:
				ST.remove(res, o)


def job_controller():
	jres = BY_PLURAL["jobs"]
	pres = BY_PLURAL["pods"]
	now = time.time()
	live = set()
	for job in ST.list(jres):
		md = job["metadata"]
		uid = md["uid"]
		live.add(uid)
		js = JOBSTATE.setdefault(uid, JobState())
		spec = job["spec"]
		if md.get("deletionTimestamp"):
			continue
		finished = job_condition(job, "Complete") or \
		    job_condition(job, "Failed")
		pods = [p for p in ST.list(pres, md["namespace"])
		    if any(r.get("uid") == uid and r.get("controller")
		    for r in p["metadata"].get("ownerReferences") or [])]
		if finished:
			ttl = spec.get("ttlSecondsAfterFinished")
			if ttl is not None:
				at = parse_time(finished["lastTransitionTime"])
				if now >= at + ttl:
					try:
						delete(jres, md["namespace"], md["name"],
						    {"propagationPolicy": "Foreground"}, Ctx())
					except ApiError:
						pass
			continue
		st = copy.deepcopy(job.get("status") or {})
		if spec.get("suspend"):
			continue
		if not st.get("startTime"):
			st["startTime"] = now_rfc3339()
		succeeded = st.get("succeeded", 0)
		failed = st.get("failed", 0)
		for p in pods:
			puid = p["metadata"]["uid"]
			ph = (p.get("status") or {}).get("phase")
			if ph in ("Succeeded", "Failed") and puid not in js.counted:
				js.counted.add(puid)
				if ph == "Succeeded":
					succeeded += 1
				else:
					failed += 1
					js.next_create = now + CFG.job_backoff * \
					    (2 ** min(failed - 1, 6))
		active = [p for p in pods if not pod_terminal(p) and
		    not p["metadata"].get("deletionTimestamp")]
		terminating = [p for p in pods if
		    p["metadata"].get("deletionTimestamp") and not pod_terminal(p)]
		conds = st.get("conditions") or []
		result = None
		ads = spec.get("activeDeadlineSeconds")
		if failed > spec.get("backoffLimit", 6):
			result = ("Failed", "BackoffLimitExceeded",
			    "Job has reached the specified backoff limit")
		elif ads is not None and now - parse_time(st["startTime"]) >= ads:
			result = ("Failed", "DeadlineExceeded",
			    "Job was active longer than specified deadline")
		elif succeeded >= spec.get("completions", 1):
			result = ("Complete", None, None)
		if result is not None:
			ts = now_rfc3339()
			if result[0] == "Failed":
				for p in active:
					delete_pod(p, None)
				conds = conds + [
				    {"type": "FailureTarget", "status": "True",
				    "reason": result[1], "message": result[2],
				    "lastProbeTime": ts, "lastTransitionTime": ts},
				    {"type": "Failed", "status": "True",
				    "reason": result[1], "message": result[2],
				    "lastProbeTime": ts, "lastTransitionTime": ts}]
				active = []
				record_event(jres, job, "Warning", result[1], result[2],
				    "job-controller")
			else:
				conds = conds + [
				    {"type": "SuccessCriteriaMet", "status": "True",
				    "reason": "CompletionsReached",
				    "message": "Reached expected number of succeeded "
				    "pods", "lastProbeTime": ts, "lastTransitionTime": ts},
				    {"type": "Complete", "status": "True",
				    "reason": "CompletionsReached",
				    "message": "Reached expected number of succeeded "
				    "pods", "lastProbeTime": ts, "lastTransitionTime": ts}]
				st["completionTime"] = ts
				record_event(jres, job, "Normal", "Completed",
				    "Job completed", "job-controller")
			st["conditions"] = conds
		else:
			want = min(spec.get("parallelism", 1),
			    spec.get("completions", 1) - succeeded) - len(active)
			while want > 0 and now >= js.next_create:
				pod = pod_from_template(job)
				try:
					pod = create(pres, md["namespace"], pod, Ctx(), True)
					active.append(pod)
					js.create_failures = 0
					record_event(jres, job, "Normal", "SuccessfulCreate",
					    "Created pod: %s" % pod["metadata"]["name"],
					    "job-controller")
				except ApiError as e:
					js.create_failures += 1
					js.next_create = now + min(CFG.job_backoff * (2 **
					    min(js.create_failures - 1, 6)), 10)
					record_event(jres, job, "Warning", "FailedCreate",
					    "Error creating: %s" % e.message,
					    "job-controller")
					break
				want -= 1
		ready = sum(1 for p in active if any(c.get("type") == "Ready" and
		    c.get("status") == "True" for c in (p.get("status") or
		    {}).get("conditions") or []))
		for k, v in (("active", len(active)), ("succeeded", succeeded),
		    ("failed", failed), ("terminating", len(terminating))):
			if v:
				st[k] = v
			else:
				st.pop(k, None)
		st["ready"] = ready
		st["uncountedTerminatedPods"] = {}
		if st != job.get("status"):
			def fn(o, st=st):
				o["status"] = st
				return True
			ST.mutate(jres, md["namespace"], md["name"], uid, fn)
	for uid in list(JOBSTATE):
		if uid not in live:
			del JOBSTATE[uid]


def pod_from_template(job):
	md = job["metadata"]
	tmpl = copy.deepcopy(job["spec"]["template"])
	tmd = tmpl.get("metadata") or {}
	pod = {"metadata": {"generateName": md["name"] + "-",
	    "namespace": md["namespace"],
	    "labels": tmd.get("labels") or {},
	    "annotations": tmd.get("annotations") or {},
	    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
	    "name": md["name"], "uid": md["uid"], "controller": True,
	    "blockOwnerDeletion": True}]},
	    "spec": tmpl.get("spec") or {}}
	if not pod["metadata"]["annotations"]:
		del pod["metadata"]["annotations"]
	return pod


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

class Dropped(Exception):
	pass


def discovery_resources(gv):
	out = []
	for res in BY_GV[gv].values():
		out.append({"name": res.plural, "singularName": res.singular,
		    "namespaced": res.namespaced, "kind": res.kind,
		    "verbs": res.verbs, **({"shortNames": res.short}
		    if res.short else {}),
		    "storageVersionHash": base64.b64encode(
		    res.qualified.encode())[:12].decode()})
		for sub in res.subresources:
			out.append({"name": res.plural + "/" + sub,
			    "singularName": "", "namespaced": res.namespaced,
			    "kind": res.kind, "verbs": ["get"] if sub == "log" else
			    ["update"] if sub == "finalize" else
			    ["get", "patch", "update"]})
	return {"kind": "APIResourceList", "apiVersion": "v1",
	    "groupVersion": gv[0] + "/" + gv[1] if gv[0] else gv[1],
	    "resources": out}


def api_groups():
	groups = []
	for g in sorted({gv[0] for gv in BY_GV if gv[0]}):
		versions = [{"groupVersion": "%s/%s" % (g, v), "version": v}
		    for (gg, v) in BY_GV if gg == g]
		groups.append({"name": g, "versions": versions,
		    "preferredVersion": versions[0]})
	return groups


class Handler(http.server.BaseHTTPRequestHandler):
	protocol_version = "HTTP/1.1"
	server_version = "kube-double"
	sys_version = ""

	def version_string(self):
		return self.server_version

	def log_message(self, fmt, *args):
		if CFG.verbose:
			log("%s %s" % (self.address_string(), fmt % args))

	def do_GET(self):
		self.dispatch("GET")

	def do_POST(self):
		self.dispatch("POST")

	def do_PUT(self):
		self.dispatch("PUT")

	def do_PATCH(self):
		self.dispatch("PATCH")

	def do_DELETE(self):
		self.dispatch("DELETE")

	# -- plumbing -------------------------------------------------------
	def read_body(self):
		n = int(self.headers.get("Content-Length") or 0)
		if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
			data = b""
			while True:
				line = self.rfile.readline()
				size = int(line.split(b";")[0].strip() or b"0", 16)
				if size == 0:
					self.rfile.readline()
					break
				data += self.rfile.read(size)
				self.rfile.readline()
			return data
		return self.rfile.read(n) if n > 0 else b""

	def send_bytes(self, code, body, ctype, headers=None):
		self.send_response(code)
		self.send_header("Content-Type", ctype)
		self.send_header("Content-Length", str(len(body)))
		self.send_header("Cache-Control", "no-cache, private")
		self.send_header("Audit-Id", str(uuid.uuid4()))
		for k, v in (headers or {}).items():
			if isinstance(v, list):
				for x in v:
					self.send_header(k, x)
			else:
				self.send_header(k, v)
		self.end_headers()
		if self.command != "HEAD":
			self.wfile.write(body)
		self.code = code

	def send_json(self, code, obj, headers=None):
		self.send_bytes(code, (json.dumps(obj, separators=(",", ":")) +
		    "\n").encode(),
		    "application/json", headers)

	def send_error_status(self, e):
		self.send_json(e.code, e.status(), e.headers)

	def start_stream(self, ctype):
		self.send_response(200)
		self.send_header("Content-Type", ctype)
		self.send_header("Transfer-Encoding", "chunked")
		self.send_header("Cache-Control", "no-cache, private")
		self.end_headers()
		self.wfile.flush()
		self.code = 200

	def chunk(self, data):
		self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
		self.wfile.flush()

	def end_stream(self):
		self.wfile.write(b"0\r\n\r\n")
		self.wfile.flush()

	def drop(self):
		"""Ends the connection without the terminating chunk."""
		try:
			self.wfile.flush()
			self.connection.shutdown(socket.SHUT_RDWR)
		except OSError:
			pass
		self.close_connection = True

	def warnings_header(self, ctx):
		return {"Warning": ['299 - "%s"' % w.replace("\\", "\\\\")
		    .replace('"', '\\"') for w in ctx.warnings]} \
		    if ctx.warnings else {}

	# -- dispatch -------------------------------------------------------
	def dispatch(self, method):
		self.code = 0
		url = urllib.parse.urlsplit(self.path)
		path = url.path
		params = {k: v[-1] for k, v in urllib.parse.parse_qs(
		    url.query, keep_blank_values=True).items()}
		t0 = time.time()
		user = None
		body = b""
		try:
			body = self.read_body()
			if path.startswith("/_double/"):
				return self.control(method, path, params, body)
			if path in ("/healthz", "/livez", "/readyz"):
				return self.send_bytes(200, b"ok", "text/plain; "
				    "charset=utf-8")
			user = self.authenticate()
			if path == "/version":
				return self.send_json(200, VERSION)
			if user is None:
				raise ApiError(401, "Unauthorized", "Unauthorized")
			self.inject_faults(method, path)
			self.route(method, path, params, body, user)
		except ApiError as e:
			self.send_error_status(e)
		except Dropped:
			self.drop()
		except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
			self.close_connection = True
		except Exception:
			log("%s %s: %s" % (method, self.path, traceback.format_exc()))
			try:
				self.send_error_status(ApiError(500, "InternalError",
				    "Internal error occurred: kube-double bug"))
			except OSError:
				pass
		finally:
			with REQLOG_LOCK:
				REQLOG.append({"method": method, "path": path,
				    "query": url.query, "code": self.code,
				    "user": user, "ms": int((time.time() - t0) * 1000)})
				del REQLOG[:-5000]
			if REQFILE is not None and method in MUTATING and \
			    path.startswith(("/api/", "/apis/")):
				request_log(t0 * 1000.0, method, path, body,
				    self.code)

	def authenticate(self):
		try:
			cert = self.connection.getpeercert()
		except (AttributeError, ValueError):
			cert = None
		if cert:
			for rdn in cert.get("subject", ()):
				for k, v in rdn:
					if k == "commonName":
						return v
		auth = self.headers.get("Authorization", "")
		if auth.startswith("Bearer "):
			tok = auth[7:].strip()
			for t in CFG.tokens:
				if pysecrets.compare_digest(tok.encode(), t.encode()):
					return "token-user"
		return None

	def inject_faults(self, method, path):
		with FAULTS["lock"]:
			lat = FAULTS["latency_ms"]
			hit = None
			for rule in FAULTS["rules"]:
				if rule.get("method") and rule["method"] != method:
					continue
				if rule.get("path") and not re.search(rule["path"], path):
					continue
				if rule.get("watch") is not None and rule["watch"] != \
				    ("watch=" in self.path):
					continue
				if rule.get("count", 1) <= 0:
					continue
				rule["count"] = rule.get("count", 1) - 1
				hit = rule
				break
			if hit is None and FAULTS["error_rate"] > 0 and \
			    random.random() < FAULTS["error_rate"]:
				hit = {"code": random.choice(FAULTS["codes"])}
			ra = FAULTS["retry_after"]
		if lat:
			time.sleep(lat / 1000.0)
		if hit is not None:
			if hit.get("latency_ms"):
				time.sleep(hit["latency_ms"] / 1000.0)
			if hit.get("code") == "drop":
				raise Dropped()
			if hit.get("code"):
				raise err_code(int(hit["code"]), hit.get("retry_after",
				    ra))

	def route(self, method, path, params, body, user):
		segs = [urllib.parse.unquote(s) for s in path.split("/") if s]
		if segs == ["api"]:
			return self.send_json(200, {"kind": "APIVersions",
			    "versions": ["v1"], "serverAddressByClientCIDRs": [
			    {"clientCIDR": "0.0.0.0/0",
			    "serverAddress": "127.0.0.1:%d" % CFG.port}]})
		if segs == ["apis"]:
			return self.send_json(200, {"kind": "APIGroupList",
			    "apiVersion": "v1", "groups": api_groups()})
		if len(segs) >= 2 and segs[0] == "api":
			gv = ("", segs[1])
			rest = segs[2:]
		elif len(segs) >= 3 and segs[0] == "apis":
			gv = (segs[1], segs[2])
			rest = segs[3:]
		elif len(segs) == 2 and segs[0] == "apis":
			for g in api_groups():
				if g["name"] == segs[1]:
					return self.send_json(200, dict(kind="APIGroup",
					    apiVersion="v1", **g))
			raise self.not_found_path()
		else:
			raise self.not_found_path()
		if gv not in BY_GV:
			raise self.not_found_path()
		if not rest:
			if method != "GET":
				raise self.not_allowed()
			return self.send_json(200, discovery_resources(gv))
		table = BY_GV[gv]
		ns = None
		if rest[0] == "namespaces" and len(rest) >= 3 and \
		    rest[2] in table and table[rest[2]].namespaced:
			ns = rest[1]
			res = table[rest[2]]
			name = rest[3] if len(rest) > 3 else None
			sub = rest[4] if len(rest) > 4 else None
			if len(rest) > 5:
				raise self.not_found_path()
		elif rest[0] in table:
			res = table[rest[0]]
			name = rest[1] if len(rest) > 1 else None
			sub = rest[2] if len(rest) > 2 else None
			if len(rest) > 3:
				raise self.not_found_path()
			if res.namespaced and name is not None:
				raise self.not_found_path()
		else:
			raise self.not_found_path()
		if sub is not None and sub not in res.subresources:
			raise self.not_found_path()
		ctx = Ctx(params, user)
		if name is None:
			if method == "GET":
				if params.get("watch") in ("true", "1"):
					return self.watch(res, ns, params)
				return self.list(res, ns, params)
			if method == "POST":
				if res.plural == "nodes":
					raise self.not_allowed()
				obj = decode_body(res, body, ctx)
				if res.namespaced and ns is None:
					raise self.not_found_path()
				out = create(res, ns, obj, ctx)
				return self.send_json(201, with_kind(res, out),
				    self.warnings_header(ctx))
			if method == "DELETE" and res.namespaced and ns is not None:
				return self.delete_collection(res, ns, params, body, ctx)
			raise self.not_allowed()
		if sub == "log":
			if method != "GET":
				raise self.not_allowed()
			return self.pod_log(ns, name, params)
		if method == "GET":
			if params.get("watch") in ("true", "1"):
				params = dict(params)
				params["fieldSelector"] = "metadata.name=" + name
				return self.watch(res, ns, params)
			with ST.lock:
				obj = ST.get(res, ns, name)
				if obj is None:
					raise err_not_found(res, name)
				return self.send_json(200, with_kind(res, obj))
		if res.plural == "nodes":
			raise self.not_allowed()
		if method == "PUT":
			obj = decode_body(res, body, ctx)
			if sub == "finalize" and res.plural == "namespaces":
				return self.finalize_namespace(name, obj)
			out = update(res, ns, name, obj, ctx, sub)
			return self.send_json(200, with_kind(res, out),
			    self.warnings_header(ctx))
		if method == "PATCH":
			return self.patch(res, ns, name, body, ctx, sub)
		if method == "DELETE":
			opts = {}
			if body.strip():
				try:
					opts = json.loads(body)
				except ValueError as e:
					raise err_bad_request("json: %s" % e)
			for k in ("propagationPolicy", "gracePeriodSeconds",
			    "orphanDependents"):
				if k in params:
					v = params[k]
					if k == "gracePeriodSeconds":
						v = int(v)
					elif k == "orphanDependents":
						v = v == "true"
					opts[k] = v
			code, out = delete(res, ns, name, opts, ctx)
			return self.send_json(code, out, self.warnings_header(ctx))
		raise self.not_allowed()

	def not_found_path(self):
		return ApiError(404, "NotFound", "the server could not find the "
		    "requested resource", {})

	def not_allowed(self):
		return ApiError(405, "MethodNotAllowed", "the server does not "
		    "allow this method on the requested resource", {})

	def finalize_namespace(self, name, obj):
		res = BY_PLURAL["namespaces"]
		with ST.lock:
			cur = ST.get(res, "", name)
			if cur is None:
				raise err_not_found(res, name)

			def fn(o):
				o.setdefault("spec", {})["finalizers"] = \
				    (obj.get("spec") or {}).get("finalizers") or []
				return True
			out = ST.mutate(res, "", name, None, fn)
			return self.send_json(200, with_kind(res, out))

	def patch(self, res, ns, name, body, ctx, sub):
		ctype = (self.headers.get("Content-Type") or "").split(";")[0]
		try:
			patch = json.loads(body)
		except ValueError as e:
			raise err_bad_request("error decoding patch: %s" % e)
		with ST.lock:
			cur = ST.get(res, ns, name)
			if cur is None and ctype != "application/apply-patch+yaml":
				raise err_not_found(res, name)
			base = with_kind(res, cur) if cur is not None else {}
			if ctype == "application/json-patch+json":
				new = json_patch(base, patch)
			elif ctype in ("application/merge-patch+json",
			    "application/strategic-merge-patch+json",
			    "application/apply-patch+yaml"):
				new = merge_patch(base, patch)
			else:
				raise ApiError(415, "UnsupportedMediaType",
				    "the body of the request was in an unknown format "
				    "- accepted media types include: "
				    "application/json-patch+json, "
				    "application/merge-patch+json, "
				    "application/apply-patch+yaml", {})
			obj = validate_structure(res, new, ctx)
			if cur is None:
				out = create(res, ns, obj, ctx)
				return self.send_json(201, with_kind(res, out))
			obj["metadata"].pop("resourceVersion", None)
			out = update(res, ns, name, obj, ctx, sub)
			return self.send_json(200, with_kind(res, out),
			    self.warnings_header(ctx))

	def delete_collection(self, res, ns, params, body, ctx):
		lsel = parse_label_selector(params.get("labelSelector"))
		fsel = parse_field_selector(res, params.get("fieldSelector"))
		opts = {}
		if body.strip():
			opts = json.loads(body)
		if "propagationPolicy" in params:
			opts["propagationPolicy"] = params["propagationPolicy"]
		items = []
		with ST.lock:
			for o in ST.list(res, ns):
				if labels_match(lsel, o["metadata"].get("labels")) and \
				    fields_match(fsel, o):
					delete(res, ns, o["metadata"]["name"], opts, ctx)
					items.append(strip_internal(o))
			rv = str(ST.rv)
		return self.send_json(200, {"kind": res.kind + "List",
		    "apiVersion": res.api_version,
		    "metadata": {"resourceVersion": rv}, "items": items})

	# -- list and watch -------------------------------------------------
	def list(self, res, ns, params):
		lsel = parse_label_selector(params.get("labelSelector"))
		fsel = parse_field_selector(res, params.get("fieldSelector"))
		limit = int(params.get("limit") or 0)
		start = 0
		cont = params.get("continue")
		with ST.lock:
			if cont:
				try:
					tok = json.loads(base64.b64decode(cont))
					start = int(tok["start"])
					if int(tok["rv"]) < ST.expired_upto:
						raise ApiError(410, "Expired", "The provided "
						    "continue parameter is too old to display a "
						    "consistent list result. You can start a new "
						    "list without the continue parameter.", {})
				except (ValueError, KeyError, TypeError):
					raise err_bad_request("continue key is not valid")
			items = [strip_internal(o) for o in ST.list(res, ns)
			    if labels_match(lsel, o["metadata"].get("labels")) and
			    fields_match(fsel, o)]
			rv = str(ST.rv)
		meta = {"resourceVersion": rv}
		if limit > 0 and start + limit < len(items):
			meta["continue"] = base64.b64encode(json.dumps(
			    {"rv": rv, "start": start + limit}).encode()).decode()
			meta["remainingItemCount"] = len(items) - start - limit
			items = items[start:start + limit]
		else:
			items = items[start:]
		self.send_json(200, {"kind": res.kind + "List",
		    "apiVersion": res.api_version, "metadata": meta,
		    "items": items})

	def watch(self, res, ns, params):
		lsel = parse_label_selector(params.get("labelSelector"))
		fsel = parse_field_selector(res, params.get("fieldSelector"))
		bookmarks = params.get("allowWatchBookmarks") in ("true", "1")
		timeout = float(params.get("timeoutSeconds") or
		    CFG.watch_timeout)
		rvp = params.get("resourceVersion") or ""
		with FAULTS["lock"]:
			drop_after = FAULTS["drop_watches_every_s"]

		def match(o):
			if o is None:
				return False
			if ns is not None and o["metadata"].get("namespace") != ns:
				return False
			return labels_match(lsel, o["metadata"].get("labels")) and \
			    fields_match(fsel, o)

		def line(etype, obj):
			return (json.dumps({"type": etype, "object": obj},
			    separators=(",", ":")) + "\n").encode()
		initial = []
		with ST.lock:
			if rvp in ("", "0"):
				pos = ST.rv
				for o in ST.list(res, ns):
					if match(o):
						initial.append(line("ADDED", with_kind(res, o)))
			else:
				try:
					pos = int(rvp)
				except ValueError:
					raise err_bad_request('invalid resource version: '
					    'strconv.ParseUint: parsing "%s": invalid '
					    'syntax' % rvp)
				if pos < ST.expired_upto:
					initial.append(line("ERROR", ApiError(410, "Expired",
					    "too old resource version: %d (%d)" % (pos,
					    ST.expired_upto)).status()))
					pos = None
		self.start_stream("application/json")
		for ln in initial:
			self.chunk(ln)
		if pos is None:
			self.end_stream()
			return
		t0 = time.time()
		last_bm = time.time()
		while True:
			out = []
			now = time.time()
			if now - t0 >= timeout:
				break
			if drop_after and now - t0 >= drop_after:
				raise Dropped()
			with ST.lock:
				if pos < ST.expired_upto:
					# fell out of the window while watching
					out.append(line("ERROR", ApiError(410, "Expired",
					    "too old resource version: %d (%d)" % (pos,
					    ST.expired_upto)).status()))
					pos = None
				else:
					evs = [e for e in ST.hist if e[0] > pos and
					    e[2] == res.plural]
					if not evs and ST.rv == pos:
						ST.cond.wait(0.25)
						evs = [e for e in ST.hist if e[0] > pos and
						    e[2] == res.plural]
					for rv, etype, _, _, obj, prev in evs:
						now_m = match(obj)
						was_m = match(prev) if etype == "MODIFIED" \
						    else now_m
						if etype == "MODIFIED" and now_m and not was_m:
							etype = "ADDED"
						elif etype == "MODIFIED" and was_m and not now_m:
							etype = "DELETED"
						elif not now_m and not was_m:
							continue
						out.append(line(etype, with_kind(res, obj)))
					# every event up to ST.rv has been looked at
					pos = ST.rv
					if bookmarks and time.time() - last_bm >= \
					    CFG.bookmark_interval:
						last_bm = time.time()
						out.append(line("BOOKMARK", {"kind": res.kind,
						    "apiVersion": res.api_version,
						    "metadata": {"resourceVersion": str(pos)}}))
			for ln in out:
				self.chunk(ln)
			if pos is None:
				break
		self.end_stream()

	# -- pods/log -------------------------------------------------------
	def pod_log(self, ns, name, params):
		res = BY_PLURAL["pods"]
		with ST.lock:
			pod = ST.get(res, ns, name)
			if pod is None:
				raise err_not_found(res, name)
			pod = copy.deepcopy(pod)
		spec = pod["spec"]
		cname = params.get("container")
		mains = [c["name"] for c in spec.get("containers") or []]
		inits = [c["name"] for c in spec.get("initContainers") or []]
		if not cname:
			if len(mains) == 1:
				cname = mains[0]
			else:
				msg = "a container name must be specified for pod %s, " \
				    "choose one of: [%s]" % (name, " ".join(mains))
				if inits:
					msg += " or one of the init containers: [%s]" % \
					    " ".join(inits)
				raise err_bad_request(msg)
		if cname not in mains and cname not in inits:
			raise err_bad_request("container %s is not valid for pod %s"
			    % (cname, name))
		with LOGS_LOCK:
			bufs = list(LOGS.get((ns, name, pod["metadata"]["uid"], cname),
			    []))
		st = {}
		for s in (pod.get("status") or {}).get("containerStatuses", []) + \
		    (pod.get("status") or {}).get("initContainerStatuses", []):
			if s["name"] == cname:
				st = s
		previous = params.get("previous") in ("true", "1")
		if previous:
			if len(bufs) < 2:
				raise err_bad_request('previous terminated container "%s" '
				    'in pod "%s" not found' % (cname, name))
			buf = bufs[-2]
		else:
			waiting = (st.get("state") or {}).get("waiting")
			if not bufs or (waiting and len(bufs) < 2):
				reason = (waiting or {}).get("reason") or \
				    "ContainerCreating"
				if reason == "ErrImagePull":
					reason = "image can't be pulled"
				elif reason == "ImagePullBackOff":
					reason = "trying and failing to pull image"
				raise err_bad_request('container "%s" in pod "%s" is '
				    'waiting to start: %s' % (cname, name, reason))
			buf = bufs[-1]
		follow = params.get("follow") in ("true", "1") and not previous
		stamps = params.get("timestamps") in ("true", "1")
		tail = int(params["tailLines"]) if params.get("tailLines") else None
		limit = int(params["limitBytes"]) if params.get("limitBytes") \
		    else None
		since = None
		if params.get("sinceSeconds"):
			since = time.time() - int(params["sinceSeconds"])
		if params.get("sinceTime"):
			since = parse_time(params["sinceTime"][:19] + "Z")
		self.start_stream("text/plain")
		sent = 0
		idx = 0
		with buf.cond:
			recs = buf.recs
			if tail is not None:
				idx = max(0, len(recs) - tail)
		while True:
			with buf.cond:
				while idx >= len(buf.recs) and not buf.done and follow:
					buf.cond.wait(0.5)
				chunk = buf.recs[idx:]
				idx = len(buf.recs)
				done = buf.done
			data = b""
			for ts, line in chunk:
				if since is not None and parse_time(ts[:19] + "Z") < \
				    int(since):
					continue
				data += (ts.encode() + b" " + line) if stamps else line
			if limit is not None and sent + len(data) > limit:
				data = data[:limit - sent]
			if data:
				self.chunk(data)
				sent += len(data)
			if not follow or done or (limit is not None and
			    sent >= limit):
				break
		self.end_stream()

	# -- test control ---------------------------------------------------
	def control(self, method, path, params, body):
		if path == "/_double/objects" and method == "GET":
			with ST.lock:
				items = []
				for (plural, ns, name), o in sorted(ST.objs.items()):
					if params.get("kind") and params["kind"] not in (
					    plural, BY_PLURAL[plural].kind):
						continue
					if params.get("namespace") and \
					    params["namespace"] != ns:
						continue
					items.append(with_kind(BY_PLURAL[plural], o))
				return self.send_json(200, {"resourceVersion":
				    str(ST.rv), "items": items})
		if path == "/_double/faults":
			if method == "GET":
				with FAULTS["lock"]:
					return self.send_json(200, {k: v for k, v in
					    FAULTS.items() if k != "lock"})
			if method == "DELETE":
				with FAULTS["lock"]:
					FAULTS.update(error_rate=0.0, codes=[429],
					    retry_after=1, latency_ms=0,
					    drop_watches_every_s=0, rules=[])
				return self.send_json(200, {})
			if method in ("POST", "PUT"):
				cfg = json.loads(body or b"{}")
				with FAULTS["lock"]:
					for k, v in cfg.items():
						if k not in FAULTS or k == "lock":
							return self.send_json(400, {"error":
							    "unknown fault %s" % k})
						FAULTS[k] = v
				return self.send_json(200, {})
		if path == "/_double/compact" and method == "POST":
			ST.compact()
			return self.send_json(200, {"expiredBelow": ST.expired_upto})
		if path == "/_double/requests":
			with REQLOG_LOCK:
				if method == "DELETE":
					del REQLOG[:]
					return self.send_json(200, {})
				return self.send_json(200, {"items": list(REQLOG)})
		if path == "/_double/config" and method in ("GET", "POST"):
			if method == "POST":
				cfg = json.loads(body or b"{}")
				for k, v in cfg.items():
					if k == "node_cpu":
						CFG.node_cpu = qparse(v)
					elif k == "node_memory":
						CFG.node_memory = qparse(v)
					elif k == "unpullable":
						CFG.unpullable = re.compile(v)
					elif k in ("ns_delete_delay", "job_backoff",
					    "pull_backoff", "bookmark_interval",
					    "schedule_retry"):
						setattr(CFG, k, float(v))
					else:
						return self.send_json(400, {"error":
						    "unknown setting %s" % k})
			return self.send_json(200, {"node_cpu": str(CFG.node_cpu),
			    "node_memory": str(CFG.node_memory),
			    "unpullable": CFG.unpullable.pattern,
			    "ns_delete_delay": CFG.ns_delete_delay,
			    "job_backoff": CFG.job_backoff,
			    "pull_backoff": CFG.pull_backoff,
			    "bookmark_interval": CFG.bookmark_interval})
		self.send_json(404, {"error": "no such control endpoint"})


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
	daemon_threads = True
	allow_reuse_address = True
	request_queue_size = 128

	def __init__(self, addr, handler, sslctx):
		http.server.HTTPServer.__init__(self, addr, handler)
		self.sslctx = sslctx

	def finish_request(self, request, client_address):
		# TLS handshake in the connection's own thread
		if CFG.nodelay:
			try:
				request.setsockopt(socket.IPPROTO_TCP,
				    socket.TCP_NODELAY, 1)
			except OSError:
				pass
		request.settimeout(30)
		try:
			request = self.sslctx.wrap_socket(request, server_side=True)
		except (ssl.SSLError, OSError) as e:
			if CFG.verbose:
				log("TLS handshake from %s failed: %s" % (
				    client_address, e))
			try:
				request.close()
			except OSError:
				pass
			return
		request.settimeout(None)
		try:
			self.RequestHandlerClass(request, client_address, self)
		finally:
			try:
				request.close()
			except OSError:
				pass

	def shutdown_request(self, request):
		try:
			request.close()
		except OSError:
			pass


# ---------------------------------------------------------------------------
# Certificates and kubeconfig
# ---------------------------------------------------------------------------

def openssl(*args):
	subprocess.run(["openssl"] + list(args), check=True,
	    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(d, name, cn):
	key = os.path.join(d, name + ".key")
	crt = os.path.join(d, name + ".crt")
	openssl("req", "-x509", "-newkey", "ec", "-pkeyopt",
	    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
	    crt, "-days", "7", "-subj", "/CN=" + cn, "-addext",
	    "basicConstraints=critical,CA:TRUE", "-addext",
	    "keyUsage=critical,keyCertSign,cRLSign")
	return crt, key


def make_leaf(d, name, subj, ca_crt, ca_key, ext):
	key = os.path.join(d, name + ".key")
	csr = os.path.join(d, name + ".csr")
	crt = os.path.join(d, name + ".crt")
	extf = os.path.join(d, name + ".ext")
	with open(extf, "w") as f:
		f.write(ext)
	openssl("req", "-newkey", "ec", "-pkeyopt",
	    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out",
	    csr, "-subj", subj)
	openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
	    "-CAcreateserial", "-out", crt, "-days", "7", "-extfile", extf)
	os.unlink(csr)
	os.unlink(extf)
	return crt, key


def b64file(path):
	with open(path, "rb") as f:
		return base64.b64encode(f.read()).decode()


def write_file(path, text, mode=0o600):
	tmp = path + ".tmp"
	with open(tmp, "w") as f:
		f.write(text)
	os.chmod(tmp, mode)
	os.rename(tmp, path)


def kubeconfig(server, ca_path, user):
	lines = ["apiVersion: v1", "kind: Config", "clusters:",
	    "- name: kube-double", "  cluster:",
	    "    server: " + server,
	    "    certificate-authority-data: " + b64file(ca_path),
	    "contexts:", "- name: kube-double", "  context:",
	    "    cluster: kube-double", "    user: ferry",
	    "    namespace: default", "current-context: kube-double",
	    "preferences: {}", "users:", "- name: ferry", "  user:"]
	for k, v in user:
		lines.append("    %s: %s" % (k, v))
	return "\n".join(lines) + "\n"


def main():
	ap = argparse.ArgumentParser(description="Kubernetes API double for "
	    "ferry's tests.  See tests/kube/README.md.")
	ap.add_argument("--dir", required=True, help="state directory: certs, "
	    "kubeconfig, port, pod work dirs are written here")
	ap.add_argument("--host", default="127.0.0.1")
	ap.add_argument("--port", type=int, default=0, help="0: any free port")
	ap.add_argument("--token", action="append", default=[],
	    help="accepted bearer token (repeatable); default: a random one "
	    "written to DIR/token")
	ap.add_argument("--cert", help="server certificate (PEM); default: "
	    "generated with a new CA")
	ap.add_argument("--key", help="server key for --cert")
	ap.add_argument("--ca", help="CA that signed --cert (for kubeconfig)")
	ap.add_argument("--history", type=int, default=1000,
	    help="watch history window, in events")
	ap.add_argument("--node-cpu", default="4")
	ap.add_argument("--node-memory", default="8Gi")
	ap.add_argument("--node-pods", type=int, default=110)
	ap.add_argument("--unpullable", default=r"does-not-exist|"
	    r"doesnotexist|\.invalid(/|:|$)|:no-such-tag$",
	    help="regex: images matching it never pull")
	ap.add_argument("--nonroot-images", default=r"nonroot|distroless",
	    help="regex: images matching it run as uid 65532 by default "
	    "(others as root)")
	ap.add_argument("--ns-delete-delay", type=float, default=0.5,
	    help="seconds a deleted namespace stays Terminating at least")
	ap.add_argument("--job-backoff", type=float, default=0.5,
	    help="Job controller retry base delay, seconds (real: 10)")
	ap.add_argument("--pull-backoff", type=float, default=0.5)
	ap.add_argument("--schedule-retry", type=float, default=1.0)
	ap.add_argument("--kubelet-delay", type=float, default=0.05)
	ap.add_argument("--bookmark-interval", type=float, default=5.0)
	ap.add_argument("--watch-timeout", type=float, default=1800.0)
	ap.add_argument("--field-validation", default="Strict",
	    choices=["Strict", "Warn", "Ignore"],
	    help="used when a request has no fieldValidation parameter "
	    "(the real default is Warn)")
	ap.add_argument("--no-setuid", action="store_true",
	    help="never switch to the pod's runAsUser")
	ap.add_argument("--keep-pod-dirs", action="store_true")
	ap.add_argument("--nodelay", dest="nodelay", action="store_true",
	    default=True, help="TCP_NODELAY on accepted connections, as "
	    "Go's net/http (kube-apiserver) sets by default (the default)")
	ap.add_argument("--no-nodelay", dest="nodelay", action="store_false",
	    help="leave Nagle's algorithm on (each response waits ~40 ms "
	    "for the client's delayed ACK)")
	ap.add_argument("--request-log", metavar="FILE",
	    help="append one JSON line per mutating API request (POST, PUT, "
	    "PATCH, DELETE) to FILE: its arrival time in ms since the epoch, "
	    "method, path, namespace, name, labels, status code")
	ap.add_argument("--verbose", action="store_true")
	a = ap.parse_args()

	d = os.path.abspath(a.dir)
	os.makedirs(d, exist_ok=True)
	CFG.dir = d
	CFG.pods_dir = os.path.join(d, "pods")
	os.makedirs(CFG.pods_dir, exist_ok=True)
	os.chmod(CFG.pods_dir, 0o755)
	os.chmod(d, 0o755)
	CFG.tokens = a.token or [pysecrets.token_hex(24)]
	CFG.node_cpu = qparse(a.node_cpu)
	CFG.node_memory = qparse(a.node_memory)
	CFG.node_pods = a.node_pods
	CFG.node_labels = {"kubernetes.io/hostname": NODE_NAME,
	    "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
	CFG.unpullable = re.compile(a.unpullable)
	CFG.nonroot_images = re.compile(a.nonroot_images)
	CFG.ns_delete_delay = a.ns_delete_delay
	CFG.job_backoff = a.job_backoff
	CFG.pull_backoff = a.pull_backoff
	CFG.schedule_retry = a.schedule_retry
	CFG.kubelet_delay = a.kubelet_delay
	CFG.bookmark_interval = a.bookmark_interval
	CFG.watch_timeout = a.watch_timeout
	CFG.field_validation = a.field_validation
	CFG.setuid = not a.no_setuid
	CFG.keep_pod_dirs = a.keep_pod_dirs
	CFG.verbose = a.verbose
	CFG.tick = 0.05
	CFG.nodelay = a.nodelay
	if a.request_log:
		global REQFILE
		REQFILE = open(a.request_log, "a")

	if a.cert:
		cert, key = a.cert, a.key
		ca = a.ca or a.cert
	else:
		ca, ca_key = make_ca(d, "ca", "kube-double-ca")
		cert, key = make_leaf(d, "server", "/CN=kube-apiserver", ca,
		    ca_key, "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost,"
		    "DNS:kubernetes,DNS:kubernetes.default.svc\n"
		    "extendedKeyUsage=serverAuth\n"
		    "basicConstraints=critical,CA:FALSE\n"
		    "keyUsage=critical,digitalSignature,keyEncipherment\n")
	cca, cca_key = make_ca(d, "client-ca", "kube-double-client-ca")
	ccert, ckey = make_leaf(d, "client", "/O=ferry/CN=ferry", cca, cca_key,
	    "extendedKeyUsage=clientAuth\nbasicConstraints=critical,CA:FALSE\n"
	    "keyUsage=critical,digitalSignature\n")
	with open(ca) as f:
		CFG.ca_pem = f.read()

	ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
	ctx.minimum_version = ssl.TLSVersion.TLSv1_2
	ctx.load_cert_chain(cert, key)
	ctx.verify_mode = ssl.CERT_OPTIONAL
	ctx.load_verify_locations(cca)
	ctx.set_alpn_protocols(["http/1.1"])

	global ST
	ST = Store(a.history)
	srv = Server((a.host, a.port), Handler, ctx)
	CFG.port = srv.server_address[1]
	server = "https://%s:%d" % (a.host, CFG.port)

	with ST.lock:
		ST.put_new(BY_PLURAL["nodes"], {"metadata": {"name": NODE_NAME,
		    "uid": new_uid(), "creationTimestamp": now_rfc3339(),
		    "labels": dict(CFG.node_labels)},
		    "spec": {}, "status": {"capacity": {"cpu": a.node_cpu,
		    "memory": a.node_memory, "pods": str(a.node_pods)},
		    "allocatable": {"cpu": a.node_cpu, "memory": a.node_memory,
		    "pods": str(a.node_pods)}, "conditions": [{"type": "Ready",
		    "status": "True", "reason": "KubeletReady",
		    "message": "kubelet is posting ready status"}],
		    "nodeInfo": {"kubeletVersion": VERSION["gitVersion"],
		    "containerRuntimeVersion": "double://1.0",
		    "operatingSystem": "linux", "architecture": "amd64"}}})
		for ns in ("default", "kube-system", "kube-public",
		    "kube-node-lease"):
			create(BY_PLURAL["namespaces"], None, {"metadata":
			    {"name": ns}}, Ctx())

	write_file(os.path.join(d, "token"), CFG.tokens[0] + "\n")
	write_file(os.path.join(d, "kubeconfig"), kubeconfig(server, ca,
	    [("token", CFG.tokens[0])]))
	write_file(os.path.join(d, "kubeconfig-cert"), kubeconfig(server, ca,
	    [("client-certificate-data", b64file(ccert)),
	    ("client-key-data", b64file(ckey))]))
	sa = os.path.join(d, "serviceaccount")
	os.makedirs(sa, exist_ok=True)
	write_file(os.path.join(sa, "token"), CFG.tokens[0])
	write_file(os.path.join(sa, "ca.crt"), CFG.ca_pem, 0o644)
	write_file(os.path.join(sa, "namespace"), "default")
	write_file(os.path.join(d, "url"), server + "\n", 0o644)
	write_file(os.path.join(d, "port"), "%d\n" % CFG.port, 0o644)
	write_file(os.path.join(d, "pid"), "%d\n" % os.getpid(), 0o644)

	threading.Thread(target=controllers_loop, daemon=True).start()

	def stop(signum, frame):
		raise KeyboardInterrupt()
	signal.signal(signal.SIGTERM, stop)
	write_file(os.path.join(d, "ready"), server + "\n", 0o644)
	print("kube-double listening on %s (kubeconfig %s)" % (server,
	    os.path.join(d, "kubeconfig")), flush=True)
	try:
		srv.serve_forever(poll_interval=0.2)
	except KeyboardInterrupt:
		pass
	finally:
		for pr in list(KUBELET.runs.values()):
			for p in list(pr.procs.values()):
				PodRun._killpg(p, signal.SIGKILL)
		try:
			os.unlink(os.path.join(d, "ready"))
		except OSError:
			pass
		if not CFG.keep_pod_dirs:
			shutil.rmtree(CFG.pods_dir, ignore_errors=True)


if __name__ == "__main__":
	main()
