#!/usr/bin/python3
"""ferry's status page in headless Chromium.

usage: test_page.py PLAN.json

Run by tests/integration/test_browser.sh, which starts ferry, seeds runs
with real signed pushes and writes PLAN.json (base URL, run ids,
commits, payloads to push while the page is open, the API token, where
screenshots go). Prints "ok - ..." / "not ok - ..." lines; exits 1 if
any check failed.
"""

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser  # noqa: E402

PLAN = json.load(open(sys.argv[1]))
BASE = PLAN['base']
RUNS = PLAN['runs']
COMMITS = PLAN['commits']
SHOTS = PLAN['shots']
XSS = ('<img src=x onerror="document.title=\'pwned\'"> '
       '<script>document.title=\'pwned\'</script> Break the cart')
J = json.dumps
failed = 0


def check(desc, cond, detail=None):
    global failed
    if cond:
        print('ok - ' + desc)
    else:
        failed += 1
        print('not ok - ' + desc + ('' if detail is None else
                                    ': ' + str(detail)[:400]))
    sys.stdout.flush()
    return bool(cond)


def push(name):
    """Posts a prepared, signed GitHub push; returns the run id."""
    body = open(PLAN['pushes'][name], 'rb').read()
    sig = hmac.new(PLAN['secret'].encode(), body, hashlib.sha256)
    req = urllib.request.Request(
        BASE + '/hooks/github', data=body, method='POST', headers={
            'Content-Type': 'application/json',
            'X-GitHub-Event': 'push',
            'X-GitHub-Delivery': 'page-%s-%f' % (name, time.time()),
            'X-Hub-Signature-256': 'sha256=' + sig.hexdigest()})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.load(r)['run_id']


def get(path):
    with urllib.request.urlopen(BASE + path, timeout=20) as r:
        return r.read().decode()


def api(path):
    return json.loads(get('/api/v1' + path))


def events_available():
    """True when GET /api/v1/events answers 200 (the stream exists)."""
    try:
        with urllib.request.urlopen(BASE + '/api/v1/events', timeout=3) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def go(b, hash_, timeout=20):
    """Hash navigation (no reload); waits for the view to be mounted."""
    if b.eval('location.hash') == hash_:
        return True
    before = b.eval('document.documentElement.dataset.ready || ""')
    b.eval('location.hash = %s' % J(hash_))
    return b.wait('document.documentElement.dataset.ready !== %s' %
                  J(before), timeout)


def text(b, sel):
    return b.eval('(document.querySelector(%s) || {}).textContent || ""' %
                  J(sel))


def no_reload(b, desc):
    check(desc + ' (no page reload)', b.eval('window.__marker === 42'))


def probe_clean(b, where):
    """No CSP violations, no script errors and no 'pwned' title so far."""
    t = b.eval('JSON.stringify(window.__ferryTest || null)')
    t = json.loads(t) if t else {'titles': [], 'csp': [], 'errors': []}
    check(where + ': no Content-Security-Policy violation', not t['csp'],
          t['csp'])
    check(where + ': no script error', not t['errors'] and
          not b.exceptions, (t['errors'], b.exceptions))
    check(where + ': the title never became "pwned"',
          not any('pwned' in x for x in t['titles']) and
          'pwned' not in b.eval('document.title'), t['titles'])
    check(where + ': no alert/confirm/prompt dialog', not b.dialogs,
          b.dialogs)


def shot(b, name):
    path = os.path.join(SHOTS, name)
    b.screenshot(path)
    print('# screenshot: ' + path)


FAVICON_RGB = '''(async () => {
  const href = document.querySelector('#favicon').getAttribute('href');
  if (!href.startsWith('data:image/png')) return null;
  const img = new Image();
  await new Promise((ok, bad) => { img.onload = ok; img.onerror = bad;
    img.src = href; });
  const c = document.createElement('canvas'); c.width = c.height = 32;
  const g = c.getContext('2d'); g.drawImage(img, 0, 0);
  return Array.from(g.getImageData(3, 16, 1, 1).data.slice(0, 3));
})()'''

TAB_WALK = '''(() => {
  const el = document.activeElement;
  if (!el || el === document.body) return 'body';
  return el.id ? '#' + el.id : el.tagName.toLowerCase() + ':' +
    (el.closest('[data-step]') ? el.closest('[data-step]').dataset.step :
     el.textContent.trim().slice(0, 30));
})()'''


def overview(b):
    check('overview renders', b.wait('!!document.querySelector(".repos li")'))
    check('the failing banner is shown',
          b.wait('!!document.querySelector("#failing-banner")'))
    order = b.eval('Array.from(document.querySelectorAll(".repos > li"))'
                   '.map((e) => e.dataset.repo)')
    check('failing repository first, then the others by name', order ==
          ['acme/broken', 'acme/idle', 'acme/shop', 'group/app'], order)
    short = COMMITS['broke'][:7]
    check('the banner names the commit that broke master (the first '
          'failure after a success)',
          b.wait('document.querySelector("#failing-banner").textContent'
                 '.includes(%s)' % J(short)),
          text(b, '#failing-banner'))
    banner = text(b, '#failing-banner')
    check('the banner says who pushed it and how long ago',
          'pushed by jane' in banner and
          ('ago' in banner or 'just now' in banner), banner)
    check('the banner gives the reason',
          'step test exited with 3' in banner, banner)
    check('the banner links the latest failed run', b.eval(
        '!!document.querySelector("#failing-banner a[href=\'#/runs/%d\']")'
        % RUNS['broken']))
    check('the hostile commit message is text in the banner',
          XSS in banner, banner)
    check('no <img src=x> was created',
          b.eval('document.querySelectorAll("img[src=x]").length') == 0)
    check('only the page\'s own script exists',
          b.eval('document.scripts.length') == 1)
    check('the idle repository says it has no runs',
          'No run of master yet' in
          text(b, 'li[data-repo="acme/idle"]'))
    check('a passing repository shows "succeeded" as text',
          'succeeded' in text(b, 'li[data-repo="acme/shop"] .pill'))
    pills = b.eval('Array.from(document.querySelectorAll(".pill"))'
                   '.map((p) => p.textContent.trim())')
    check('every status pill has a word, not only a colour',
          pills and all(any(c.isalpha() for c in p) for p in pills), pills)
    title = b.eval('document.title')
    check('the tab title says master is failing',
          title == '\u2717 failing \u00b7 ferry', title)
    rgb = b.eval(FAVICON_RGB)
    check('the favicon is a red data: PNG drawn on a canvas',
          rgb and rgb[0] > 150 and rgb[1] < 90 and rgb[2] < 90, rgb)
    shot(b, 'overview.png')


def runs_list(b):
    go(b, '#/runs')
    check('runs list renders',
          b.wait('document.querySelectorAll("tr[data-run]").length >= 5'))
    ids = b.eval('Array.from(document.querySelectorAll("tr[data-run]"))'
                 '.map((r) => +r.dataset.run)')
    check('runs newest first', ids == sorted(ids, reverse=True), ids)
    href = b.eval('document.querySelector("tr[data-run=\'%d\'] a.sha")'
                  '.href' % RUNS['shop'])
    check('short sha links to the GitHub commit', href ==
          'https://github.com/acme/shop/commit/' + COMMITS['shop'], href)
    check('the link text is the short sha', text(
        b, 'tr[data-run="%d"] a.sha' % RUNS['shop']) ==
        COMMITS['shop'][:7])
    href = b.eval('document.querySelector("tr[data-run=\'%d\'] a.sha")'
                  '.href' % RUNS['gitlab'])
    check('short sha links to the GitLab commit', href ==
          'https://gitlab.com/group/app/-/commit/' + COMMITS['gitlab'], href)
    row = 'tr[data-run="%d"]' % RUNS['broke']
    check('hostile message shown as text in the list',
          text(b, row + ' td.msg') == XSS, text(b, row + ' td.msg'))
    check('hostile author shown as text',
          text(b, row + ' td.who') == '<i>Eve</i> "the breaker"' and
          b.eval('document.querySelectorAll("td.who i").length') == 0,
          text(b, row + ' td.who'))
    cells = b.eval('Array.from(document.querySelector(%s).cells)'
                   '.map((c) => c.textContent)' % J(row))
    check('a row has status, run, repo, commit, message, author, '
          'duration, age', len(cells) == 8 and 'failed' in cells[0] and
          cells[1] == '#%d' % RUNS['broke'] and cells[2] == 'acme/broken'
          and cells[6] not in ('', '\u2014') and
          ('ago' in cells[7] or 'just now' in cells[7]), cells)
    shot(b, 'runs.png')

    b.eval('(() => { const s = document.querySelector("#f-status");'
           ' s.value = "failed"; s.dispatchEvent(new Event("change")); })()')
    ok = b.wait('location.hash === "#/runs?status=failed" && '
                'document.querySelectorAll("tr[data-run]").length === 2')
    st = b.eval('Array.from(document.querySelectorAll("tr[data-run]"))'
                '.map((r) => r.dataset.status)')
    check('status filter shows only failed runs', ok and
          st == ['failed', 'failed'], (b.eval('location.hash'), st))
    b.eval('(() => { const s = document.querySelector("#f-repo");'
           ' s.value = "acme/shop"; s.dispatchEvent(new Event("change"));'
           ' })()')
    check('repository and status filters combine', b.wait(
        'location.hash.includes("repo=acme%2Fshop") && '
        '!!document.querySelector("td.empty")'), b.eval('location.hash'))
    go(b, '#/runs?repo=acme%2Fbroken')
    b.wait('document.querySelectorAll("tr[data-run]").length === 3')
    repos = b.eval('Array.from(document.querySelectorAll("tr[data-run] '
                   'td:nth-child(3)")).map((c) => c.textContent)')
    check('repository filter', repos == ['acme/broken'] * 3, repos)

    go(b, '#/runs?limit=2')
    seen = []
    for page in range(5):
        b.wait('document.querySelectorAll("tr[data-run]").length > 0')
        got = b.eval('Array.from(document.querySelectorAll("tr[data-run]"))'
                     '.map((r) => +r.dataset.run)')
        seen += got
        if page == 1:
            check('a later page links back to the newest',
                  'Newest' in text(b, '.pager'))
        if not b.eval('!!document.querySelector("#older")'):
            break
        b.eval('document.querySelector("#older").click()')
        b.wait('document.documentElement.dataset.view === "runs" && '
               '!Array.from(document.querySelectorAll("tr[data-run]"))'
               '.some((r) => %s.includes(+r.dataset.run))' % J(got))
    check('paging with the next cursor walks every run once, in order',
          seen == sorted(ids, reverse=True), (seen, ids))


def run_page(b):
    rid = RUNS['broke']
    go(b, '#/runs/%d' % rid)
    check('run page lists the steps',
          b.wait('document.querySelectorAll("li.step").length === 3'))
    st = b.eval('Array.from(document.querySelectorAll("li.step"))'
                '.map((s) => s.dataset.step + ":" + s.dataset.status)')
    check('steps in order with their status',
          st == ['build:succeeded', 'test:failed', 'deploy:skipped'], st)
    check('the failed step is opened by default', b.eval(
        'document.querySelector("li[data-step=test] details").open'))
    check('passing steps stay closed', not b.eval(
        'document.querySelector("li[data-step=build] details").open'))
    log = 'li[data-step=test] pre.log'
    check('the failed step\'s log is shown', b.wait(
        'document.querySelector(%s).textContent.includes('
        '"assertion failed: cart total")' % J(log)), text(b, log))
    check('log text is not HTML', '<b>not bold</b>' in text(b, log) and
          b.eval('document.querySelectorAll("pre.log *").length') == 0,
          text(b, log))
    summary = text(b, 'li[data-step=test] summary')
    check('the step shows its exit code and duration',
          'exit 3' in summary and ('ms' in summary or ' s' in summary),
          summary)
    check('the skipped step says so', 'skipped' in
          text(b, 'li[data-step=deploy] summary'))
    check('the full commit message is text', text(b, 'pre.message') == XSS,
          text(b, 'pre.message'))
    check('the run\'s reason is shown', 'step test exited with 3' in
          text(b, '.run-status'))
    check('a rerun button, no cancel button for an ended run', b.eval(
        '!!document.querySelector("#rerun") && '
        '!document.querySelector("#cancel")'))
    title = b.eval('document.title')
    check('the title keeps the overall state on the run page',
          title.startswith('\u2717 failing') and str(rid) in title, title)
    shot(b, 'run.png')

    # Keyboard: every control is reachable with Tab; Enter opens a step.
    b.eval('document.activeElement && document.activeElement.blur()')
    b.eval('window.scrollTo(0, 0)')
    reached = []
    for _ in range(45):
        b.key('Tab')
        reached.append(b.eval(TAB_WALK))
    check('Tab reaches the rerun button', '#rerun' in reached, reached)
    steps = []
    for r in reached:
        if r.startswith('summary:') and r not in steps:
            steps.append(r)
    check('Tab reaches every step', steps == ['summary:build',
          'summary:test', 'summary:deploy'], reached)
    check('Tab reaches the open log (scrollable by keyboard)',
          'pre:test' in reached, reached)
    b.eval('document.querySelector("li[data-step=build] summary").focus()')
    b.key('Enter')
    check('Enter on a step opens it and loads its log', b.wait(
        'document.querySelector("li[data-step=build] pre.log").textContent'
        '.includes("compiling")'))


def live(b, mode):
    go(b, '#/')
    b.eval('window.__marker = 42')
    rid = push('slow')
    card = 'li[data-repo="acme/shop"]'
    check(mode + ': a new run shows on the overview while it runs', b.wait(
        'document.querySelector(%s).dataset.status === "running" && '
        '!!document.querySelector(%s)' % (J(card), J(card + ' progress')),
        30), text(b, card))
    check(mode + ': the running card shows step progress',
          'steps' in text(b, card + ' .progress'), text(b, card))
    badge = get('/badge/acme/shop.svg')
    check(mode + ': the badge says running', '>running<' in badge, badge)
    if mode == 'events':
        shot(b, 'overview-running.png')
    no_reload(b, mode + ': overview updated')
    go(b, '#/runs/%d' % rid)
    check(mode + ': the running step is opened and its log followed',
          b.wait('document.querySelector("li[data-step=wait] details")'
                 '.open && document.querySelector("li[data-step=wait] '
                 'pre.log").textContent.includes("tick 1")', 20),
          text(b, 'li[data-step=wait]'))
    st = api('/runs/%d' % rid)['status']
    check(mode + ': ...while the run is still running', st == 'running', st)
    check(mode + ': the run ends on the page without a reload', b.wait(
        'document.querySelector(".view-run").dataset.status === '
        '"succeeded"', 40), text(b, '.run-status'))
    logt = text(b, 'li[data-step=wait] pre.log')
    check(mode + ': the followed log is complete',
          all('tick %d' % i in logt for i in range(1, 7)), logt)
    check(mode + ': the next step finished too', b.wait(
        'document.querySelector("li[data-step=finish]").dataset.status '
        '=== "succeeded"', 10))
    no_reload(b, mode + ': run page updated')
    go(b, '#/')
    check(mode + ': the overview shows the run passed', b.wait(
        'document.querySelector(%s).dataset.status === "succeeded"' %
        J(card), 15), text(b, card))
    no_reload(b, mode + ': overview back to passing')


def cancel_rerun(b):
    """With the event stream blocked: polling, then cancel and rerun."""
    b.call('Network.setBlockedURLs', urls=['*/api/v1/events*'])
    b.navigate(BASE + '/?blocked#/')
    b.wait('document.documentElement.dataset.ready')
    b.eval('window.__marker = 42')
    check('with the event stream broken the page falls back to polling',
          b.wait('document.documentElement.dataset.live === "polling"', 20),
          b.eval('document.documentElement.dataset.live'))
    live(b, 'polling')
    rid = push('long')
    go(b, '#/runs/%d' % rid)
    check('a long run is running with a cancel button', b.wait(
        'document.querySelector(".view-run").dataset.status === "running"'
        ' && !!document.querySelector("#cancel")', 30))
    b.wait('document.querySelector("li[data-step=long] pre.log")'
           '.textContent.includes("started")', 20)
    b.eval('sessionStorage.clear()')
    b.eval('document.querySelector("#cancel").click()')
    check('cancel asks for the API token', b.wait(
        'document.querySelector("#token-dialog").open', 5))
    check('the token field has focus',
          b.eval('document.activeElement.id') == 'token-input')
    b.type_text('wrong-token')
    b.key('Enter')
    check('a refused token asks again, saying why', b.wait(
        'document.querySelector("#token-dialog").open && '
        'document.querySelector("#token-error").textContent'
        '.includes("refused")', 10), text(b, '#token-error'))
    b.eval('document.querySelector("#token-input").focus()')
    b.type_text(PLAN['token'])
    b.eval('document.querySelector("#token-form button[type=submit]")'
           '.click()')
    check('the run is cancelled from the page', b.wait(
        'document.querySelector(".view-run").dataset.status === '
        '"cancelled"', 30), text(b, '.run-status'))
    check('the token is kept in session storage', b.eval(
        'sessionStorage.getItem("ferry.api_token")') == PLAN['token'])
    no_reload(b, 'cancel')
    shot(b, 'run-cancelled.png')

    go(b, '#/runs/%d' % RUNS['shop'])
    b.wait('!!document.querySelector("#rerun")')
    b.eval('document.querySelector("#rerun").click()')
    new = b.wait('(() => { const m = /^#\\/runs\\/(\\d+)$/.exec('
                 'location.hash); return m && +m[1] !== %d ? +m[1] : 0; })()'
                 % RUNS['shop'], 15)
    check('rerun needs no second token prompt and opens the new run',
          new and not b.eval('document.querySelector("#token-dialog").open'),
          b.eval('location.hash'))
    if new:
        r = api('/runs/%d' % new)
        check('the new run is a rerun of the same commit',
              r['trigger'] == 'rerun' and r['commit'] == COMMITS['shop'], r)
        check('the rerun finishes on the page', b.wait(
            'document.querySelector(".view-run").dataset.status === '
            '"succeeded"', 40), text(b, '.run-status'))
    no_reload(b, 'rerun')
    probe_clean(b, 'polling')
    b.call('Network.setBlockedURLs', urls=[])
    if events_available():
        check('the page goes back to the event stream once it works',
              b.wait('document.documentElement.dataset.live === "live"', 30),
              b.eval('document.documentElement.dataset.live'))


def phone(b):
    b.viewport(390, 844, mobile=True, scale=1)
    b.navigate(BASE + '/#/')
    b.wait('!!document.querySelector("#failing-banner")')
    fits = 'document.documentElement.scrollWidth <= window.innerWidth'
    check('phone width: the overview fits without sideways scrolling',
          b.eval(fits), b.eval('document.documentElement.scrollWidth'))
    shot(b, 'phone-overview.png')
    go(b, '#/runs')
    b.wait('document.querySelectorAll("tr[data-run]").length > 0')
    check('phone width: the runs list fits', b.eval(fits),
          b.eval('document.documentElement.scrollWidth'))
    check('phone width: rows become labelled cards', b.eval(
        'getComputedStyle(document.querySelector("tr[data-run]")).display')
        == 'block')
    shot(b, 'phone-runs.png')
    go(b, '#/runs/%d' % RUNS['broke'])
    b.wait('document.querySelector("li[data-step=test] pre.log")'
           '.textContent.includes("assertion")')
    check('phone width: the run page fits', b.eval(fits),
          b.eval('document.documentElement.scrollWidth'))
    shot(b, 'phone-run.png')
    probe_clean(b, 'phone')


def main():
    b = Browser(PLAN['chromium'], PLAN.get('chromium_log'))
    try:
        b.navigate(BASE + '/')
        b.wait('document.documentElement.dataset.ready')
        b.eval('window.__marker = 42')
        overview(b)
        runs_list(b)
        run_page(b)
        probe_clean(b, 'views')
        no_reload(b, 'views')
        sse = events_available()
        print('# event stream available: %s; page mode: %s' % (
            sse, b.eval('document.documentElement.dataset.live')))
        if sse:
            check('the page uses the event stream', b.wait(
                'document.documentElement.dataset.live === "live"', 20))
        live(b, 'events' if sse else 'polling')
        probe_clean(b, 'live')
        cancel_rerun(b)
        phone(b)
        bad = [e for e in b.console_errors if not e.startswith('network:')]
        check('no console errors besides network ones', not bad, bad)
    finally:
        b.close()
    print('# %d browser check(s) failed' % failed)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
