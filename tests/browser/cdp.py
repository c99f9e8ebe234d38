"""A small Chrome DevTools Protocol client for ferry's browser tests.

Starts headless Chromium (Debian's chromium package) with a throwaway
profile and drives one page over the DevTools WebSocket
(python3-websocket): navigate, evaluate JavaScript, wait for conditions,
press keys, take screenshots. It records what a test must notice:
uncaught exceptions, console errors, Content-Security-Policy violations,
JavaScript dialogs (alert/confirm/prompt; each is dismissed), and every
value a script assigns to document.title.
"""

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import websocket

CHROMIUM_FLAGS = [
    '--headless', '--no-sandbox', '--disable-gpu',
    '--disable-background-networking', '--no-first-run',
    '--no-default-browser-check', '--disable-extensions',
    '--disable-dev-shm-usage', '--disable-component-update',
    '--disable-sync', '--mute-audio', '--hide-scrollbars',
    '--window-size=1280,900',
]

# Installed in every document before its own scripts run.
PROBE = r'''
(() => {
  window.__ferryTest = {titles: [], csp: [], errors: []};
  const d = Object.getOwnPropertyDescriptor(Document.prototype, 'title');
  Object.defineProperty(Document.prototype, 'title', {
    configurable: true, enumerable: d.enumerable,
    get() { return d.get.call(this); },
    set(v) { window.__ferryTest.titles.push(String(v)); d.set.call(this, v); },
  });
  document.addEventListener('securitypolicyviolation', (e) => {
    window.__ferryTest.csp.push(e.violatedDirective + ' ' + e.blockedURI);
  });
  window.addEventListener('error', (e) => {
    window.__ferryTest.errors.push(String(e.message));
  });
})();
'''


class CDPError(Exception):
    pass


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, chromium, log_path=None, timeout=30):
        self.profile = tempfile.mkdtemp(prefix='ferry-chromium-')
        self.log = open(log_path or os.devnull, 'ab')
        self.proc = subprocess.Popen(
            [chromium] + CHROMIUM_FLAGS +
            ['--user-data-dir=' + self.profile,
             '--remote-debugging-port=0', 'about:blank'],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.next_id = 0
        self.events = []
        self.dialogs = []
        self.exceptions = []
        self.console_errors = []
        self.ws = None
        try:
            port = self._wait_port(timeout)
            self.ws = websocket.create_connection(
                self._page_ws(port, timeout), timeout=timeout,
                suppress_origin=True)
        except Exception:
            self.close()
            raise
        for domain in ('Page', 'Runtime', 'Log', 'Network'):
            self.call(domain + '.enable')
        self.call('Page.addScriptToEvaluateOnNewDocument', source=PROBE)

    def _wait_port(self, timeout):
        path = os.path.join(self.profile, 'DevToolsActivePort')
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise CDPError('chromium exited with %d' %
                               self.proc.returncode)
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise CDPError('chromium did not open its DevTools port')

    def _page_ws(self, port, timeout):
        end = time.time() + timeout
        while time.time() < end:
            try:
                with urllib.request.urlopen(
                        'http://127.0.0.1:%d/json/list' % port,
                        timeout=5) as r:
                    for t in json.load(r):
                        if t.get('type') == 'page':
                            return t['webSocketDebuggerUrl']
            except OSError:
                pass
            time.sleep(0.1)
        raise CDPError('no page target')

    def close(self):
        if self.ws is not None:
            try:
                self.ws.close()
            except Exception:
                pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- protocol --------------------------------------------------------

    def _dispatch(self, msg):
        method = msg.get('method')
        p = msg.get('params', {})
        if method == 'Page.javascriptDialogOpening':
            self.dialogs.append(p.get('message'))
            self.send('Page.handleJavaScriptDialog', accept=False)
        elif method == 'Runtime.exceptionThrown':
            d = p.get('exceptionDetails', {})
            ex = d.get('exception', {})
            self.exceptions.append(ex.get('description') or d.get('text'))
        elif method == 'Log.entryAdded':
            e = p.get('entry', {})
            if e.get('level') == 'error':
                self.console_errors.append('%s: %s (%s)' % (
                    e.get('source'), e.get('text'), e.get('url', '')))
        elif method == 'Runtime.consoleAPICalled':
            if p.get('type') == 'error':
                self.console_errors.append('console: ' + ' '.join(
                    str(a.get('value', a.get('description')))
                    for a in p.get('args', [])))
        self.events.append(msg)
        if len(self.events) > 2000:
            del self.events[:1000]

    def send(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({'id': self.next_id, 'method': method,
                                 'params': params}))
        return self.next_id

    def call(self, method, timeout=30, **params):
        mid = self.send(method, **params)
        end = time.time() + timeout
        while True:
            left = end - time.time()
            if left <= 0:
                raise CDPError('%s: no answer' % method)
            self.ws.settimeout(left)
            msg = json.loads(self.ws.recv())
            if msg.get('id') == mid:
                if 'error' in msg:
                    raise CDPError('%s: %s' % (method, msg['error']))
                return msg.get('result', {})
            if 'method' in msg:
                self._dispatch(msg)

    def pump(self, seconds):
        """Processes events for a while (dialogs are answered here)."""
        end = time.time() + seconds
        while time.time() < end:
            self.ws.settimeout(max(0.01, end - time.time()))
            try:
                msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                return
            if 'method' in msg:
                self._dispatch(msg)

    # --- page ------------------------------------------------------------

    def eval(self, expr, timeout=30):
        r = self.call('Runtime.evaluate', timeout=timeout, expression=expr,
                      returnByValue=True, awaitPromise=True,
                      userGesture=True)
        if 'exceptionDetails' in r:
            d = r['exceptionDetails']
            raise CDPError('%s: %s' % (expr[:80], d.get('exception', {})
                           .get('description', d.get('text'))))
        return r.get('result', {}).get('value')

    def wait(self, expr, timeout=20, interval=0.15):
        """Waits until expr is truthy; returns its value or None."""
        end = time.time() + timeout
        while time.time() < end:
            try:
                v = self.eval(expr)
            except CDPError:
                v = None
            if v:
                return v
            self.pump(interval)
        return None

    def navigate(self, url, timeout=30):
        self.call('Page.navigate', url=url)
        return self.wait('document.readyState === "complete"', timeout)

    def viewport(self, width, height, mobile=False, scale=1):
        self.call('Emulation.setDeviceMetricsOverride', width=width,
                  height=height, deviceScaleFactor=scale, mobile=mobile)

    def key(self, key, code=None, shift=False):
        vk = {'Tab': 9, 'Enter': 13, ' ': 32, 'Escape': 27}.get(key, 0)
        mods = 8 if shift else 0
        for t in ('rawKeyDown', 'keyUp'):
            self.call('Input.dispatchKeyEvent', type=t, key=key,
                      code=code or key, windowsVirtualKeyCode=vk,
                      modifiers=mods)
        if key == 'Enter':
            self.call('Input.dispatchKeyEvent', type='char', text='\r')

    def type_text(self, text):
        self.call('Input.insertText', text=text)

    def screenshot(self, path, full=True):
        """A PNG of the page (the whole page when full, at most 6000 px)."""
        params = {'format': 'png'}
        if full:
            m = self.call('Page.getLayoutMetrics')
            size = m.get('cssContentSize') or m.get('contentSize')
            vp = m.get('cssLayoutViewport') or m.get('layoutViewport')
            params['clip'] = {
                'x': 0, 'y': 0, 'scale': 1,
                'width': vp.get('clientWidth', size['width']),
                'height': min(max(size['height'],
                                  vp.get('clientHeight', 0)), 6000)}
            params['captureBeyondViewport'] = True
        data = self.call('Page.captureScreenshot', **params)['data']
        with open(path, 'wb') as f:
            f.write(base64.b64decode(data))
        return path
