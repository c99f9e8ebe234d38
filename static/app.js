/*
 * ferry's status page: plain JavaScript, no build step, no dependencies.
 *
 * Views (hash routing, no page reloads):
 *   #/                      overview: every repository, broken ones first
 *   #/runs?repo=&status=&before=   runs list with filters and paging
 *   #/runs/42[/steps/NAME]  one run: steps, logs, cancel and rerun
 *
 * Data comes from the JSON API. Live updates come from GET
 * /api/v1/events (Server-Sent Events, resumed with Last-Event-ID); while
 * the stream is down the page polls the API instead and keeps trying to
 * reconnect. The tab title and favicon show the production branches'
 * overall state so a broken master shows in a background tab.
 *
 * Safety: everything from the API (commit messages, names, logs) goes
 * into the DOM as text nodes or textContent, never as HTML; there is no
 * innerHTML in this file. The server's Content-Security-Policy forbids
 * inline script, so nothing injected could run anyway.
 */
'use strict';

(function () {
	const API = '/api/v1';
	const POLL_MS = 3000;		/* polling while the stream is down */
	const SSE_RETRY_MS = 10000;	/* new EventSource after it gave up */
	const PAGE_SIZE = 25;
	const TOKEN_KEY = 'ferry.api_token';

	const STATUS = {
		queued: ['○', 'queued'],
		pending: ['○', 'pending'],
		running: ['◐', 'running'],
		succeeded: ['✓', 'succeeded'],
		failed: ['✗', 'failed'],
		cancelled: ['⊘', 'cancelled'],
		error: ['⚠', 'error'],
		skipped: ['↷', 'skipped'],
	};
	const RUN_STATUSES = ['queued', 'running', 'succeeded', 'failed',
	    'cancelled', 'error'];
	const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'error',
	    'skipped']);

	const state = {
		repos: null,		/* GET /api/v1/repos .repos */
		view: null,		/* the current view object */
		es: null,		/* EventSource */
		lastEventId: null,
		live: 'connecting',	/* 'live' | 'polling' | 'offline' */
		pollTimer: null,
		overall: null,		/* the kind drawn in the favicon */
		reposTimer: null,
		reposReq: null,	/* the repos fetch in flight */
	};

	/* --- DOM helpers: text only ------------------------------------- */

	/*
	 * h('a', {href: '#/'}, 'text', node, ...): an element whose
	 * children are text nodes (strings, numbers) or nodes. Attribute
	 * values are set with setAttribute; never HTML.
	 */
	function h(tag, attrs) {
		const el = document.createElement(tag);
		if (attrs) {
			for (const k of Object.keys(attrs)) {
				const v = attrs[k];
				if (v === null || v === undefined || v === false)
					continue;
				if (k === 'class')
					el.className = v;
				else if (k.startsWith('on'))
					el.addEventListener(k.slice(2), v);
				else
					el.setAttribute(k, v === true ? '' : String(v));
			}
		}
		for (let i = 2; i < arguments.length; i++)
			add(el, arguments[i]);
		return el;
	}

	function add(el, c) {
		if (c === null || c === undefined || c === false)
			return;
		if (Array.isArray(c)) {
			c.forEach((x) => add(el, x));
			return;
		}
		el.appendChild(c instanceof Node ? c :
		    document.createTextNode(String(c)));
	}

	function clear(el) {
		while (el.firstChild)
			el.removeChild(el.firstChild);
	}

	function $(sel, root) {
		return (root || document).querySelector(sel);
	}

	function announce(text) {
		const el = $('#announce');
		el.textContent = '';
		window.setTimeout(() => { el.textContent = text; }, 50);
	}

	/* --- formatting --------------------------------------------------- */

	function statusPill(status, extra) {
		const s = STATUS[status] || ['?', String(status || 'unknown')];
		return h('span', {
			class: 'pill st-' + (STATUS[status] ? status : 'unknown') +
			    (extra ? ' ' + extra : ''),
			'data-status': s[1],
		}, h('span', {class: 'icon', 'aria-hidden': 'true'}, s[0]),
		    ' ', s[1]);
	}

	function ms(iso) {
		const t = iso ? Date.parse(iso) : NaN;
		return Number.isNaN(t) ? null : t;
	}

	function fmtDuration(d) {
		if (d === null || d === undefined || d < 0)
			return '—';
		if (d < 1000)
			return Math.round(d) + ' ms';
		let s = Math.round(d / 1000);
		if (s < 60)
			return s + ' s';
		let m = Math.floor(s / 60);
		s %= 60;
		if (m < 60)
			return m + ' min' + (s ? ' ' + s + ' s' : '');
		const hr = Math.floor(m / 60);
		m %= 60;
		return hr + ' h' + (m ? ' ' + m + ' min' : '');
	}

	function fmtAge(iso) {
		const t = ms(iso);
		if (t === null)
			return '—';
		const s = Math.max(0, Math.round((Date.now() - t) / 1000));
		if (s < 10)
			return 'just now';
		if (s < 60)
			return s + ' s ago';
		if (s < 3600)
			return Math.floor(s / 60) + ' min ago';
		if (s < 86400)
			return Math.floor(s / 3600) + ' h ago';
		return Math.floor(s / 86400) + ' d ago';
	}

	/* A <time> that the ticker keeps saying "5 min ago". */
	function age(iso) {
		if (!iso)
			return h('span', {class: 'age'}, '—');
		return h('time', {class: 'age', datetime: iso,
		    title: new Date(iso).toLocaleString()}, fmtAge(iso));
	}

	/* Duration; for something still running, a live counter. */
	function duration(obj) {
		if (obj.duration_ms !== null && obj.duration_ms !== undefined)
			return h('span', {class: 'dur'},
			    fmtDuration(obj.duration_ms));
		if (obj.started_at && !obj.finished_at &&
		    (obj.status === 'running'))
			return h('span', {class: 'dur', 'data-since':
			    obj.started_at}, fmtDuration(Date.now() -
			    ms(obj.started_at)));
		return h('span', {class: 'dur'}, '—');
	}

	function firstLine(s) {
		s = String(s || '');
		const i = s.indexOf('\n');
		return i >= 0 ? s.slice(0, i) : s;
	}

	const REPO_RE = /^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)+$/;
	const SHA_RE = /^[0-9a-f]{7,64}$/i;

	/* The provider's page of a commit, or null. */
	function commitUrl(run) {
		const repo = String(run.repo || '');
		const sha = String(run.commit || '');
		if (!REPO_RE.test(repo) || !SHA_RE.test(sha))
			return null;
		const path = repo.split('/').map(encodeURIComponent).join('/');
		if (run.provider === 'github')
			return 'https://github.com/' + path + '/commit/' + sha;
		if (run.provider === 'gitlab')
			return 'https://gitlab.com/' + path + '/-/commit/' + sha;
		return null;
	}

	function commitLink(run) {
		const short = String(run.commit || '').slice(0, 7) || '—';
		const url = commitUrl(run);
		const code = h('code', null, short);
		if (!url)
			return h('span', {class: 'sha'}, code);
		return h('a', {class: 'sha', href: url, rel: 'noopener noreferrer',
		    'aria-label': 'commit ' + short + ' on ' +
		    (run.provider === 'gitlab' ? 'GitLab' : 'GitHub')}, code);
	}

	function runLink(run) {
		return h('a', {href: '#/runs/' + run.id, class: 'run-id',
		    'aria-label': 'run ' + run.id}, '#' + run.id);
	}

	function broken(run) {
		return !!run && (run.status === 'failed' ||
		    run.status === 'error');
	}

	function active(run) {
		return !!run && (run.status === 'queued' ||
		    run.status === 'running');
	}

	/* --- the API ------------------------------------------------------ */

	async function getJSON(path, signal) {
		const resp = await fetch(API + path, {signal: signal,
		    headers: {Accept: 'application/json'}});
		let body = null;
		try {
			body = await resp.json();
		} catch (e) {
			body = null;
		}
		if (!resp.ok) {
			const msg = body && body.error && body.error.message ?
			    body.error.message : 'HTTP ' + resp.status;
			const err = new Error(msg);
			err.status = resp.status;
			throw err;
		}
		return body;
	}

	/* GET /api/v1/repos; concurrent callers share one request. */
	function loadRepos() {
		if (state.reposReq)
			return state.reposReq;
		state.reposReq = getJSON('/repos').then((d) => {
			state.repos = d.repos || [];
			updateOverall();
			return state.repos;
		}).finally(() => {
			state.reposReq = null;
		});
		return state.reposReq;
	}

	/* Debounced repos refetch (after events, which carry single runs). */
	function scheduleRepos() {
		if (state.reposTimer)
			return;
		state.reposTimer = window.setTimeout(() => {
			state.reposTimer = null;
			loadRepos().then(() => {
				if (state.view && state.view.reposChanged)
					state.view.reposChanged();
			}).catch(() => {});
		}, 500);
	}

	/* --- title and favicon ------------------------------------------- */

	const OVERALL = {
		failing: ['✗ failing', '#c62828', '✗'],
		running: ['● running', '#1565c0', '●'],
		passing: ['✓ passing', '#2e7d32', '✓'],
		unknown: [null, '#616161', '?'],
	};

	function overallKind() {
		const repos = state.repos || [];
		if (repos.some((r) => broken(r.last_run)))
			return 'failing';
		if (repos.some((r) => active(r.last_run)))
			return 'running';
		if (repos.some((r) => r.last_run &&
		    r.last_run.status === 'succeeded'))
			return 'passing';
		return 'unknown';
	}

	function updateTitle() {
		const kind = state.repos ? overallKind() : 'unknown';
		const parts = [];
		if (OVERALL[kind][0])
			parts.push(OVERALL[kind][0]);
		if (state.view && state.view.title)
			parts.push(state.view.title);
		parts.push('ferry');
		document.title = parts.join(' · ');
		document.documentElement.dataset.overall = kind;
	}

	function drawFavicon(kind) {
		const c = document.createElement('canvas');
		c.width = c.height = 32;
		const g = c.getContext('2d');
		if (!g)
			return;
		g.fillStyle = OVERALL[kind][1];
		g.beginPath();
		g.arc(16, 16, 15, 0, 2 * Math.PI);
		g.fill();
		g.fillStyle = '#fff';
		g.font = 'bold 20px sans-serif';
		g.textAlign = 'center';
		g.textBaseline = 'middle';
		g.fillText(OVERALL[kind][2], 16, 17);
		const link = $('#favicon');
		link.setAttribute('type', 'image/png');
		link.setAttribute('href', c.toDataURL('image/png'));
	}

	function updateOverall() {
		const kind = state.repos ? overallKind() : 'unknown';
		updateTitle();
		if (kind !== state.overall) {
			state.overall = kind;
			drawFavicon(kind);
		}
	}

	/* --- live updates: SSE, with polling as the fallback -------------- */

	function setLive(mode) {
		state.live = mode;
		document.documentElement.dataset.live = mode;
		const el = $('#live');
		el.className = 'live live-' + mode;
		el.textContent = mode === 'live' ? '● live' :
		    mode === 'polling' ? '↻ updating every ' + POLL_MS / 1000 +
		    ' s' : mode === 'offline' ? '⚠ cannot reach ferry' :
		    'connecting…';
	}

	function startPolling() {
		if (state.pollTimer)
			return;
		if (state.live !== 'offline')
			setLive('polling');
		state.pollTimer = window.setInterval(poll, POLL_MS);
	}

	function stopPolling() {
		if (state.pollTimer)
			window.clearInterval(state.pollTimer);
		state.pollTimer = null;
	}

	async function poll() {
		try {
			await loadRepos();
			if (state.view && state.view.refresh)
				await state.view.refresh();
			if (state.live === 'offline')
				setLive(state.es && state.es.readyState ===
				    EventSource.OPEN ? 'live' : 'polling');
		} catch (e) {
			if (!e.status)
				setLive('offline');
		}
	}

	/* Everything again (after a reset or a gap). */
	function refreshAll() {
		poll();
	}

	function startEvents() {
		if (!window.EventSource) {
			startPolling();
			return;
		}
		let url = API + '/events';
		if (state.lastEventId)
			url += '?last_event_id=' +
			    encodeURIComponent(state.lastEventId);
		const es = new EventSource(url);
		let opened = false;
		state.es = es;
		es.addEventListener('open', () => {
			setLive('live');
			stopPolling();
			/* Changes between our fetches and this stream. */
			if (!opened)
				refreshAll();
			opened = true;
		});
		es.addEventListener('run', (e) => {
			if (e.lastEventId)
				state.lastEventId = e.lastEventId;
			let d;
			try {
				d = JSON.parse(e.data);
			} catch (err) {
				return;
			}
			if (d && d.run)
				onRun(d.run);
		});
		es.addEventListener('reset', () => refreshAll());
		es.addEventListener('error', () => {
			/*
			 * CONNECTING: the browser reconnects by itself and
			 * sends Last-Event-ID. CLOSED: it gave up (an error
			 * status, such as 501 before the stream existed); poll,
			 * and try a new stream later, resuming by query.
			 */
			startPolling();
			if (es.readyState === EventSource.CLOSED) {
				es.close();
				if (state.es === es)
					state.es = null;
				window.setTimeout(startEvents, SSE_RETRY_MS);
			}
		});
	}

	/* One run changed (from the stream). */
	function onRun(run) {
		const repos = state.repos || [];
		const r = repos.find((x) => x.name === run.repo);
		if (r && run.branch === r.branch &&
		    (!r.last_run || run.id >= r.last_run.id)) {
			r.last_run = run;
			updateOverall();
		} else if (!r) {
			scheduleRepos();
		}
		if (state.view && state.view.onRun)
			state.view.onRun(run);
	}

	/* --- the API token (cancel, rerun) -------------------------------- */

	function askToken(message) {
		const dlg = $('#token-dialog');
		const input = $('#token-input');
		$('#token-error').textContent = message || '';
		input.value = '';
		return new Promise((resolve) => {
			const done = (v) => {
				dlg.removeEventListener('close', onClose);
				resolve(v);
			};
			const onClose = () => {
				const v = dlg.returnValue === 'ok' ?
				    input.value.trim() : '';
				input.value = '';
				done(v || null);
			};
			dlg.addEventListener('close', onClose);
			dlg.returnValue = '';
			dlg.showModal();
			input.focus();
		});
	}

	/* POSTs path with the stored token, asking for one if needed. */
	async function authPost(path) {
		let token = sessionStorage.getItem(TOKEN_KEY);
		let msg = null;
		for (let i = 0; i < 3; i++) {
			if (!token) {
				token = await askToken(msg);
				if (!token)
					return null;
			}
			const resp = await fetch(API + path, {method: 'POST',
			    headers: {Authorization: 'Bearer ' + token}});
			if (resp.status !== 401 && resp.status !== 403) {
				sessionStorage.setItem(TOKEN_KEY, token);
				let body = null;
				try {
					body = await resp.json();
				} catch (e) {
					body = null;
				}
				return {status: resp.status, body: body};
			}
			sessionStorage.removeItem(TOKEN_KEY);
			token = null;
			let why = '';
			try {
				const e = await resp.json();
				why = e && e.error && e.error.message ?
				    ' (' + e.error.message + ')' : '';
			} catch (e) {
				why = '';
			}
			msg = 'The server refused that token' + why + '.';
		}
		return null;
	}

	/* --- view: overview ------------------------------------------------ */

	function overviewView() {
		const view = {name: 'overview', title: null};
		const breakers = new Map();	/* repo -> {key, run} */
		let root = null;

		/* The oldest run of the current failing streak. */
		async function findBreaker(repo) {
			const last = repo.last_run;
			const key = last.id + ':' + last.status;
			const have = breakers.get(repo.name);
			if (have && have.key === key)
				return;
			breakers.set(repo.name, {key: key, run: last});
			try {
				const d = await getJSON('/runs?limit=50&repo=' +
				    encodeURIComponent(repo.name));
				let first = last;
				for (const run of d.runs) {
					if (run.branch !== repo.branch ||
					    run.id > last.id)
						continue;
					if (run.status === 'succeeded')
						break;
					if (broken(run))
						first = run;
				}
				breakers.set(repo.name, {key: key, run: first});
				render();
			} catch (e) {
				/* keep the latest run as the culprit */
			}
		}

		function sortedRepos() {
			const rank = (r) => broken(r.last_run) ? 0 :
			    active(r.last_run) ? 1 : 2;
			return (state.repos || []).slice().sort((a, b) =>
			    rank(a) - rank(b) || a.name.localeCompare(b.name));
		}

		function banner(brokenRepos) {
			const n = brokenRepos.length;
			const sec = h('section', {class: 'banner',
			    id: 'failing-banner', 'aria-labelledby': 'banner-h'},
			    h('h2', {id: 'banner-h'},
			    h('span', {'aria-hidden': 'true'}, '✗ '),
			    n === 1 ? 'Production is broken in 1 repository' :
			    'Production is broken in ' + n + ' repositories'));
			const ul = h('ul');
			for (const r of brokenRepos) {
				const b = breakers.get(r.name);
				const cause = b ? b.run : r.last_run;
				const last = r.last_run;
				ul.appendChild(h('li', {'data-repo': r.name},
				    h('strong', null, r.name), ' ',
				    h('span', {class: 'branch'}, r.branch),
				    ' broken by ', commitLink(cause), ' ',
				    h('q', {class: 'msg'},
				    firstLine(cause.message)),
				    ', pushed by ',
				    h('span', {class: 'who'},
				    cause.pusher || cause.author || 'unknown'),
				    cause.author && cause.pusher &&
				    cause.author !== cause.pusher ?
				    [' (author ', h('span', {class: 'who'},
				    cause.author), ')'] : null,
				    ' ', age(cause.created_at), '. ',
				    h('span', {class: 'reason'},
				    last.reason || last.status), ' in ',
				    runLink(last), '.'));
			}
			sec.appendChild(ul);
			return sec;
		}

		function progress(run) {
			const steps = run.steps || [];
			const done = steps.filter((s) => FINAL.has(s.status))
			    .length;
			const now = steps.filter((s) => s.status === 'running')
			    .map((s) => s.name);
			if (run.status === 'queued' || steps.length === 0)
				return h('p', {class: 'progress'},
				    run.status === 'queued' ? 'waiting for a worker' :
				    'starting');
			return h('p', {class: 'progress'},
			    h('progress', {max: steps.length, value: done,
			    'aria-label': done + ' of ' + steps.length +
			    ' steps finished'}), ' ',
			    done + '/' + steps.length + ' steps',
			    now.length ? [' · running ', h('span',
			    {class: 'step-name'}, now.join(', '))] : null);
		}

		function repoCard(r) {
			const run = r.last_run;
			const st = run ? run.status : 'none';
			const li = h('li', {class: 'repo st-' + st,
			    'data-repo': r.name, 'data-status': st},
			    h('div', {class: 'repo-head'},
			    run ? statusPill(run.status) :
			    h('span', {class: 'pill st-unknown'},
			    h('span', {class: 'icon', 'aria-hidden': 'true'},
			    '–'), ' no runs'),
			    h('h2', null, h('a', {href: '#/runs?repo=' +
			    encodeURIComponent(r.name)}, r.name)),
			    h('span', {class: 'branch', title:
			    'production branch'}, r.branch)));
			if (!run) {
				li.appendChild(h('p', {class: 'meta'},
				    'No run of ' + r.branch + ' yet.'));
				return li;
			}
			li.appendChild(h('p', {class: 'last'}, runLink(run), ' ',
			    commitLink(run), ' ', h('span', {class: 'msg'},
			    firstLine(run.message))));
			li.appendChild(h('p', {class: 'meta'},
			    h('span', {class: 'who'}, run.author || run.pusher ||
			    ''), ' · ', age(run.created_at), ' · ',
			    duration(run)));
			if (active(run))
				li.appendChild(progress(run));
			else if (broken(run) && run.reason)
				li.appendChild(h('p', {class: 'reason'},
				    run.reason));
			return li;
		}

		function render() {
			if (!root || !state.repos)
				return;
			const focusKey = document.activeElement &&
			    root.contains(document.activeElement) ?
			    document.activeElement.getAttribute('href') : null;
			const repos = sortedRepos();
			const brokenRepos = repos.filter((r) =>
			    broken(r.last_run));
			for (const r of brokenRepos)
				findBreaker(r);
			const frag = document.createDocumentFragment();
			frag.appendChild(h('h1', {tabindex: '-1'}, 'Overview'));
			if (brokenRepos.length)
				frag.appendChild(banner(brokenRepos));
			else if (repos.some((r) => r.last_run))
				frag.appendChild(h('p', {class: 'allgood'},
				    h('span', {'aria-hidden': 'true'}, '✓ '),
				    'No production branch is broken.'));
			if (!repos.length)
				frag.appendChild(h('p', null,
				    'No repositories are configured.'));
			const ul = h('ul', {class: 'repos',
			    'aria-label': 'Repositories'});
			repos.forEach((r) => ul.appendChild(repoCard(r)));
			frag.appendChild(ul);
			clear(root);
			root.appendChild(frag);
			if (focusKey) {
				const el = root.querySelector('a[href="' +
				    CSS.escape(focusKey) + '"]');
				if (el)
					el.focus();
			}
		}

		view.mount = async function (el) {
			root = el;
			if (!state.repos)
				await loadRepos();
			render();
		};
		view.refresh = async function () {
			render();	/* poll() reloaded the repos */
		};
		view.reposChanged = render;
		view.onRun = function () {
			render();
			scheduleRepos();
		};
		view.tick = function () {};
		return view;
	}

	/* --- view: runs list ---------------------------------------------- */

	function runsView(query) {
		const repo = query.get('repo') || '';
		const status = query.get('status') || '';
		const before = query.get('before') || '';
		const n = parseInt(query.get('limit') || '', 10);
		const limit = n >= 1 && n <= 200 ? n : PAGE_SIZE;
		const view = {name: 'runs', title: 'Runs'};
		let root = null, tbody = null, data = null;

		function hashFor(p) {
			const q = new URLSearchParams();
			if (p.repo)
				q.set('repo', p.repo);
			if (p.status)
				q.set('status', p.status);
			if (p.before)
				q.set('before', p.before);
			if (limit !== PAGE_SIZE)
				q.set('limit', String(limit));
			const s = q.toString();
			return '#/runs' + (s ? '?' + s : '');
		}

		function apiPath() {
			const q = new URLSearchParams();
			q.set('limit', String(limit));
			if (repo)
				q.set('repo', repo);
			if (status)
				q.set('status', status);
			if (before)
				q.set('before', before);
			return '/runs?' + q.toString();
		}

		function filters() {
			const repoSel = h('select', {id: 'f-repo', name: 'repo'},
			    h('option', {value: ''}, 'all repositories'));
			const names = (state.repos || []).map((r) => r.name);
			if (repo && !names.includes(repo))
				names.push(repo);
			for (const n of names)
				repoSel.appendChild(h('option', {value: n,
				    selected: n === repo}, n));
			const stSel = h('select', {id: 'f-status',
			    name: 'status'}, h('option', {value: ''},
			    'any status'));
			for (const s of RUN_STATUSES)
				stSel.appendChild(h('option', {value: s,
				    selected: s === status}, s));
			const apply = () => {
				location.hash = hashFor({repo: repoSel.value,
				    status: stSel.value});
			};
			repoSel.addEventListener('change', apply);
			stSel.addEventListener('change', apply);
			return h('form', {class: 'filters', role: 'search',
			    'aria-label': 'Filter runs', onsubmit: (e) => {
				    e.preventDefault();
				    apply();
			    }},
			    h('label', {for: 'f-repo'}, 'Repository'), repoSel,
			    h('label', {for: 'f-status'}, 'Status'), stSel,
			    h('button', {type: 'submit'}, 'Apply'));
		}

		function row(run) {
			return h('tr', {'data-run': run.id,
			    'data-status': run.status},
			    h('td', {'data-label': 'Status'},
			    statusPill(run.status)),
			    h('td', {'data-label': 'Run'}, runLink(run)),
			    h('td', {'data-label': 'Repository'}, run.repo),
			    h('td', {'data-label': 'Commit'}, commitLink(run)),
			    h('td', {'data-label': 'Message', class: 'msg'},
			    firstLine(run.message)),
			    h('td', {'data-label': 'Author', class: 'who'},
			    run.author || run.pusher || ''),
			    h('td', {'data-label': 'Duration'}, duration(run)),
			    h('td', {'data-label': 'Age'}, age(run.created_at)));
		}

		function renderRows() {
			clear(tbody);
			if (!data.runs.length)
				tbody.appendChild(h('tr', null, h('td',
				    {colspan: '8', class: 'empty'},
				    'No runs match.')));
			data.runs.forEach((r) => tbody.appendChild(row(r)));
		}

		function render() {
			clear(root);
			root.appendChild(h('h1', {tabindex: '-1'}, 'Runs'));
			root.appendChild(filters());
			const table = h('table', {class: 'runs'},
			    h('caption', {class: 'sr-only'}, 'Runs, newest first' +
			    (repo ? ', repository ' + repo : '') +
			    (status ? ', status ' + status : '')),
			    h('thead', null, h('tr', null,
			    ['Status', 'Run', 'Repository', 'Commit', 'Message',
			    'Author', 'Duration', 'Age'].map((t) =>
			    h('th', {scope: 'col'}, t)))));
			tbody = h('tbody');
			table.appendChild(tbody);
			root.appendChild(h('div', {class: 'table-wrap'}, table));
			renderRows();
			const nav = h('nav', {class: 'pager',
			    'aria-label': 'Pages'});
			if (before)
				nav.appendChild(h('a', {href: hashFor({repo: repo,
				    status: status})}, '← Newest'));
			if (data.next)
				nav.appendChild(h('a', {href: hashFor({repo: repo,
				    status: status, before: data.next}),
				    rel: 'next', id: 'older'}, 'Older →'));
			root.appendChild(nav);
		}

		async function load() {
			data = await getJSON(apiPath());
		}

		let reloadTimer = null;
		function scheduleReload() {
			if (reloadTimer)
				return;
			reloadTimer = window.setTimeout(() => {
				reloadTimer = null;
				view.refresh().catch(() => {});
			}, 300);
		}

		view.mount = async function (el) {
			root = el;
			if (!state.repos)
				await loadRepos().catch(() => {});
			await load();
			render();
		};
		view.refresh = async function () {
			await load();
			renderRows();
		};
		view.onRun = function (run) {
			if (!data)
				return;
			const i = data.runs.findIndex((r) => r.id === run.id);
			if (i >= 0) {
				if (status && run.status !== status) {
					scheduleReload();
					return;
				}
				data.runs[i] = run;
				const old = tbody.querySelector('tr[data-run="' +
				    run.id + '"]');
				if (old)
					tbody.replaceChild(row(run), old);
				return;
			}
			/* A new run belongs on the first page. */
			const top = data.runs.length ? data.runs[0].id : 0;
			if (!before && run.id > top && (!repo || run.repo ===
			    repo))
				scheduleReload();
		};
		view.destroy = function () {
			if (reloadTimer)
				window.clearTimeout(reloadTimer);
		};
		return view;
	}

	/* --- view: one run ------------------------------------------------ */

	function runView(id, wantStep) {
		const view = {name: 'run', title: 'Run ' + id};
		const steps = new Map();	/* name -> step UI */
		let root = null, run = null, userOpened = false;
		let header = null, actions = null, list = null;
		const ctl = new AbortController();

		function logUrl(name, follow) {
			return API + '/runs/' + id + '/steps/' +
			    encodeURIComponent(name) + '/log' +
			    (follow ? '?follow=1' : '');
		}

		/* Loads (or follows) a step's log into its <pre>, as text. */
		async function loadLog(ui) {
			const follow = ui.step.status === 'running';
			if (ui.log === 'loading' || ui.log === 'done')
				return;
			if (ui.step.status === 'pending') {
				ui.pre.textContent = 'Waiting for the step to start…';
				ui.log = 'waiting';
				return;
			}
			ui.log = 'loading';
			ui.pre.setAttribute('aria-busy', 'true');
			try {
				const resp = await fetch(logUrl(ui.step.name,
				    follow), {signal: ctl.signal});
				if (!resp.ok)
					throw new Error('HTTP ' + resp.status);
				ui.pre.textContent = '';
				const reader = resp.body.getReader();
				const dec = new TextDecoder();
				let any = false;
				for (;;) {
					const r = await reader.read();
					if (r.done)
						break;
					const text = dec.decode(r.value,
					    {stream: true});
					if (text) {
						any = true;
						appendLog(ui.pre, text);
					}
				}
				appendLog(ui.pre, dec.decode());
				if (!any && !ui.pre.textContent)
					ui.pre.textContent = '(no output)';
				/*
				 * A plain read was of an ended step; a followed
				 * one ends when the step does: complete either way.
				 */
				ui.log = 'done';
			} catch (e) {
				if (ctl.signal.aborted)
					return;
				ui.log = 'idle';
				ui.pre.textContent = 'Could not load the log: ' +
				    e.message;
			} finally {
				ui.pre.removeAttribute('aria-busy');
			}
		}

		function appendLog(pre, text) {
			if (!text)
				return;
			const atEnd = pre.scrollTop + pre.clientHeight >=
			    pre.scrollHeight - 4;
			pre.appendChild(document.createTextNode(text));
			if (atEnd)
				pre.scrollTop = pre.scrollHeight;
		}

		function stepSummary(ui) {
			const s = ui.step;
			clear(ui.summary);
			add(ui.summary, [statusPill(s.status), ' ',
			    h('span', {class: 'step-name'}, s.name), ' ',
			    h('span', {class: 'step-meta'}, duration(s),
			    s.exit_code !== null && s.exit_code !== undefined ?
			    [' · ', h('span', {class: 'exit'}, 'exit ' +
			    s.exit_code)] : null,
			    s.reason ? [' · ', h('span', {class: 'reason'},
			    s.reason)] : null)]);
		}

		/* Where the step sits in the run's time, as a bar. */
		function stepBar(ui) {
			const s = ui.step;
			const t0 = ms(run.started_at);
			const t1 = ms(run.finished_at) || Date.now();
			const a = ms(s.started_at);
			ui.bar.className = 'bar st-' + s.status;
			if (t0 === null || a === null || t1 <= t0) {
				ui.fill.style.marginLeft = '0';
				ui.fill.style.width = '0';
				return;
			}
			const b = ms(s.finished_at) || Date.now();
			const left = Math.max(0, (a - t0) / (t1 - t0) * 100);
			const width = Math.max(0.5, Math.min(100 - left,
			    (b - a) / (t1 - t0) * 100));
			ui.fill.style.marginLeft = left.toFixed(2) + '%';
			ui.fill.style.width = width.toFixed(2) + '%';
		}

		function stepItem(s) {
			const ui = {step: s, log: 'none'};
			ui.summary = h('summary');
			ui.pre = h('pre', {class: 'log', tabindex: '0',
			    'aria-label': 'log of step ' + s.name});
			ui.fill = h('span', {class: 'fill'});
			ui.bar = h('div', {class: 'bar', 'aria-hidden': 'true'},
			    ui.fill);
			ui.details = h('details', null, ui.summary, ui.pre);
			ui.details.addEventListener('toggle', () => {
				if (ui.details.open) {
					if (!ui.auto)
						userOpened = true;
					loadLog(ui);
				}
				ui.auto = false;
			});
			ui.li = h('li', {class: 'step', 'data-step': s.name,
			    id: 'step-' + s.name}, ui.bar, ui.details);
			update(ui, s);
			return ui;
		}

		function update(ui, s) {
			const was = ui.step.status;
			ui.step = s;
			ui.li.dataset.status = s.status;
			ui.li.className = 'step st-' + s.status;
			stepSummary(ui);
			stepBar(ui);
			if (ui.details.open && was !== s.status &&
			    (ui.log === 'waiting' || ui.log === 'idle' ||
			    ui.log === 'none'))
				loadLog(ui);
		}

		function openStep(ui) {
			if (ui.details.open)
				return;
			ui.auto = true;
			ui.details.open = true;
		}

		/* The failed step, else a running one, opens by itself. */
		function autoOpen() {
			if (userOpened)
				return;
			const all = [...steps.values()];
			const pick = (wantStep && steps.get(wantStep)) ||
			    all.find((u) => u.step.status === 'failed') ||
			    all.find((u) => u.step.status === 'error') ||
			    all.find((u) => u.step.status === 'running');
			if (pick) {
				openStep(pick);
				if (wantStep && pick === steps.get(wantStep))
					wantStep = null;
			}
		}

		function renderHeader() {
			clear(header);
			add(header, [
			    h('h1', {tabindex: '-1'}, 'Run ', h('span',
			    {class: 'run-num'}, '#' + run.id), ' ',
			    h('span', {class: 'repo-name'}, run.repo)),
			    h('p', {class: 'run-status', role: 'status'},
			    statusPill(run.status, 'big'),
			    run.reason ? [' ', h('span', {class: 'reason'},
			    run.reason)] : null),
			    h('pre', {class: 'message'}, run.message || ''),
			    h('dl', {class: 'facts'},
			    h('dt', null, 'Commit'), h('dd', null,
			    commitLink(run), ' on ', h('span',
			    {class: 'branch'}, run.branch)),
			    h('dt', null, 'Author'), h('dd', {class: 'who'},
			    run.author || '—'),
			    h('dt', null, 'Pushed by'), h('dd', {class: 'who'},
			    run.pusher || '—'),
			    h('dt', null, 'Trigger'), h('dd', null,
			    run.trigger || 'push'),
			    h('dt', null, 'Created'), h('dd', null,
			    age(run.created_at)),
			    h('dt', null, 'Duration'), h('dd', null,
			    duration(run)))]);
			clear(actions);
			if (active(run))
				actions.appendChild(h('button', {type: 'button',
				    id: 'cancel', class: 'danger', onclick: onCancel},
				    'Cancel run'));
			else
				actions.appendChild(h('button', {type: 'button',
				    id: 'rerun', onclick: onRerun}, 'Rerun'));
			actions.appendChild(h('a', {href: '#/runs?repo=' +
			    encodeURIComponent(run.repo)},
			    'All runs of ' + run.repo));
		}

		function renderSteps() {
			for (const s of run.steps || []) {
				const ui = steps.get(s.name);
				if (ui) {
					update(ui, s);
				} else {
					const n = stepItem(s);
					steps.set(s.name, n);
					list.appendChild(n.li);
				}
			}
			if (!steps.size && !list.firstChild)
				list.appendChild(h('li', {class: 'empty'},
				    run.status === 'queued' ?
				    'Waiting for a worker.' :
				    FINAL.has(run.status) ?
				    'No steps ran.' : 'Reading the pipeline…'));
			else if (steps.size) {
				const e = list.querySelector('li.empty');
				if (e)
					list.removeChild(e);
			}
			autoOpen();
		}

		function setRun(r) {
			run = r;
			root.dataset.status = run.status;
			renderHeader();
			renderSteps();
		}

		async function onCancel() {
			const r = await authPost('/runs/' + id + '/cancel');
			if (!r)
				return;
			if (r.status === 202) {
				announce('Cancel requested for run ' + id);
				view.refresh();
			} else {
				announce('Cannot cancel: ' + (r.body && r.body.error ?
				    r.body.error.message : 'HTTP ' + r.status));
			}
		}

		async function onRerun() {
			const r = await authPost('/runs/' + id + '/rerun');
			if (!r)
				return;
			if (r.status === 201 && r.body && r.body.run_id) {
				announce('Started run ' + r.body.run_id);
				location.hash = '#/runs/' + r.body.run_id;
			} else {
				announce('Cannot rerun: ' + (r.body && r.body.error ?
				    r.body.error.message : 'HTTP ' + r.status));
			}
		}

		view.mount = async function (el) {
			root = el;
			let r;
			try {
				r = await getJSON('/runs/' + id, ctl.signal);
			} catch (e) {
				if (e.status === 404) {
					clear(root);
					add(root, [h('h1', {tabindex: '-1'},
					    'No run ' + id), h('p', null,
					    h('a', {href: '#/runs'}, 'All runs'))]);
					return;
				}
				throw e;
			}
			clear(root);
			header = h('div', {class: 'run-header'});
			actions = h('div', {class: 'actions'});
			list = h('ol', {class: 'steps', 'aria-label': 'Steps'});
			add(root, [header, actions, h('h2', null, 'Steps'),
			    list]);
			setRun(r);
		};
		view.refresh = async function () {
			if (!run)
				return;
			const r = await getJSON('/runs/' + id, ctl.signal);
			setRun(r);
		};
		view.onRun = function (r) {
			if (r.id === id && run)
				setRun(r);
		};
		view.tick = function () {
			if (run && active(run))
				steps.forEach((ui) => stepBar(ui));
		};
		view.destroy = function () {
			ctl.abort();
		};
		return view;
	}

	function notFoundView() {
		return {
			name: 'notfound', title: 'Not found',
			mount: async function (el) {
				clear(el);
				add(el, [h('h1', {tabindex: '-1'}, 'Not found'),
				    h('p', null, h('a', {href: '#/'},
				    'Back to the overview'))]);
			},
		};
	}

	/* --- routing ------------------------------------------------------ */

	function parseHash() {
		let hash = location.hash.replace(/^#/, '');
		if (hash === '')
			hash = '/';
		if (hash[0] !== '/')
			return null;	/* an in-page anchor */
		const q = hash.indexOf('?');
		const path = q >= 0 ? hash.slice(0, q) : hash;
		const query = new URLSearchParams(q >= 0 ? hash.slice(q + 1) :
		    '');
		let m;
		if (path === '/')
			return {name: 'overview'};
		if (path === '/runs' || path === '/runs/')
			return {name: 'runs', query: query};
		if ((m = /^\/runs\/([0-9]+)(?:\/steps\/([^/]+))?$/.exec(path)))
			return {name: 'run', id: Number(m[1]),
			    step: m[2] ? decodeURIComponent(m[2]) : null};
		return {name: 'notfound'};
	}

	let routeSeq = 0;

	async function route(first) {
		const r = parseHash();
		if (!r)
			return;
		const seq = ++routeSeq;
		if (state.view && state.view.destroy)
			state.view.destroy();
		const view = r.name === 'overview' ? overviewView() :
		    r.name === 'runs' ? runsView(r.query) :
		    r.name === 'run' ? runView(r.id, r.step) : notFoundView();
		state.view = view;
		document.documentElement.dataset.view = view.name;
		document.querySelectorAll('[data-nav]').forEach((a) => {
			const on = a.dataset.nav === view.name ||
			    (a.dataset.nav === 'runs' && view.name === 'run');
			if (on)
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		});
		const main = $('#main');
		main.setAttribute('aria-busy', 'true');
		const el = h('div', {class: 'view view-' + view.name});
		try {
			await view.mount(el);
		} catch (e) {
			clear(el);
			add(el, [h('h1', {tabindex: '-1'}, 'Cannot load this page'),
			    h('p', {class: 'error'}, e.message),
			    h('p', null, 'Retrying as the page updates.')]);
			startPolling();
		}
		if (seq !== routeSeq)
			return;		/* a newer route won */
		clear(main);
		main.appendChild(el);
		main.removeAttribute('aria-busy');
		updateTitle();
		if (!first) {
			const h1 = main.querySelector('h1');
			if (h1)
				h1.focus({preventScroll: true});
			window.scrollTo(0, 0);
		}
		document.documentElement.dataset.ready = String(seq);
	}

	/* Refreshes "5 min ago" and running durations. */
	function tick() {
		document.querySelectorAll('time.age').forEach((t) => {
			t.textContent = fmtAge(t.getAttribute('datetime'));
		});
		document.querySelectorAll('.dur[data-since]').forEach((d) => {
			const t = ms(d.dataset.since);
			if (t !== null)
				d.textContent = fmtDuration(Date.now() - t);
		});
		if (state.view && state.view.tick)
			state.view.tick();
	}

	function init() {
		setLive('connecting');
		$('.skip').addEventListener('click', (e) => {
			e.preventDefault();
			$('#main').focus();
		});
		$('#token-cancel').addEventListener('click', () => {
			$('#token-dialog').close('cancel');
		});
		window.addEventListener('hashchange', () => route(false));
		loadRepos().catch(() => setLive('offline'));
		route(true);
		startEvents();
		window.setInterval(tick, 1000);
	}

	if (document.readyState === 'loading')
		document.addEventListener('DOMContentLoaded', init);
	else
		init();
})();
