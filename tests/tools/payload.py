#!/usr/bin/python3
"""Writes realistic GitHub and GitLab webhook bodies (JSON) to stdout.

Used by the integration tests, the demo and the benchmarks, so that every
payload has the shape the forges document: GitHub's push event
(head_commit, commits, pusher, repository.full_name, compare) and
GitLab's Push Hook (object_kind, checkout_sha, project.path_with_namespace).

  payload.py github-push --repo acme/shop --ref refs/heads/master \
      --after SHA [--before SHA] [--message M] [--author A] [--pad BYTES]
  payload.py github-ping --repo acme/shop
  payload.py gitlab-push --repo group/app --ref refs/heads/main --after SHA
"""
import argparse
import json
import sys

ZERO = "0" * 40


def github_push(a):
    owner, name = a.repo.split("/", 1)
    deleted = a.after == ZERO
    commit = None
    if not deleted:
        commit = {
            "id": a.after,
            "tree_id": "1" * 40,
            "distinct": True,
            "message": a.message,
            "timestamp": "2026-11-26T12:00:00Z",
            "url": f"https://github.com/{a.repo}/commit/{a.after}",
            "author": {"name": a.author, "email": "jane@example.com",
                       "username": "jane"},
            "committer": {"name": a.author, "email": "jane@example.com",
                          "username": "jane"},
            "added": [], "removed": [], "modified": ["src/cart.c"],
        }
    body = {
        "ref": a.ref,
        "before": a.before,
        "after": a.after,
        "created": a.before == ZERO,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{a.repo}/compare/"
                   f"{a.before[:12]}...{a.after[:12]}",
        "commits": [commit] if commit else [],
        "head_commit": commit,
        "repository": {
            "id": 123456, "node_id": "R_kgDOAB", "name": name,
            "full_name": a.repo, "private": False,
            "owner": {"name": owner, "login": owner, "id": 1,
                      "type": "Organization"},
            "html_url": f"https://github.com/{a.repo}",
            "clone_url": f"https://github.com/{a.repo}.git",
            "default_branch": "master", "master_branch": "master",
        },
        "pusher": {"name": "jane", "email": "jane@example.com"},
        "sender": {"login": "jane", "id": 2, "type": "User"},
    }
    if a.pad:
        # Real pushes carry a lot more repository metadata; pad to size.
        need = a.pad - len(json.dumps(body))
        if need > 0:
            body["repository"]["description"] = "x" * need
    return body


def github_ping(a):
    return {"zen": "Keep it logically awesome.", "hook_id": 1,
            "hook": {"type": "Repository", "id": 1, "active": True,
                     "events": ["push"]},
            "repository": {"full_name": a.repo, "name": a.repo.split("/")[1]},
            "sender": {"login": "jane"}}


def gitlab_push(a):
    deleted = a.after == ZERO
    commits = [] if deleted else [{
        "id": a.after, "message": a.message, "title": a.message.split("\n")[0],
        "timestamp": "2026-11-26T12:00:00+00:00",
        "url": f"https://gitlab.com/{a.repo}/-/commit/{a.after}",
        "author": {"name": a.author, "email": "jane@example.com"},
        "added": [], "modified": ["src/cart.c"], "removed": []}]
    return {
        "object_kind": "tag_push" if a.ref.startswith("refs/tags/") else "push",
        "event_name": "push",
        "before": a.before, "after": a.after, "ref": a.ref,
        "ref_protected": True,
        "checkout_sha": None if deleted else a.after,
        "user_id": 4, "user_name": a.author, "user_username": "jane",
        "user_email": "", "project_id": 15,
        "project": {"id": 15, "name": a.repo.split("/")[-1],
                    "web_url": f"https://gitlab.com/{a.repo}",
                    "path_with_namespace": a.repo,
                    "default_branch": "main"},
        "commits": commits, "total_commits_count": len(commits),
        "repository": {"name": a.repo.split("/")[-1]},
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["github-push", "github-ping", "gitlab-push"])
    p.add_argument("--repo", required=True)
    p.add_argument("--ref", default="refs/heads/master")
    p.add_argument("--after", default="9f1c2ab3" + "0" * 31 + "1")
    p.add_argument("--before", default="a" * 40)
    p.add_argument("--message", default="Fix cart")
    p.add_argument("--author", default="Jane Doe")
    p.add_argument("--pad", type=int, default=0)
    a = p.parse_args()
    fn = {"github-push": github_push, "github-ping": github_ping,
          "gitlab-push": gitlab_push}[a.kind]
    sys.stdout.write(json.dumps(fn(a)))


if __name__ == "__main__":
    main()
