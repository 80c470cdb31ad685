// A fake model server on loopback for the real-CLI turn tests: the Anthropic Messages API
// (streaming SSE, for Claude Code through ANTHROPIC_BASE_URL) and the OpenAI Responses API
// (streaming SSE, for Codex through a model_providers entry). What it answers is decided
// by a marker in the latest user text: HANG (a tool call that runs a command that never
// ends), APIERR (an HTTP 400 API error), otherwise a plain text answer. It also refuses
// and records every proxy request (CONNECT or absolute-URI), so a test can prove that no
// CLI tried to reach beyond loopback.
import http from 'node:http'

function sse(res, events) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' })
  for (const [name, data] of events) res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`)
  res.end()
}

function texts(v, out = []) {
  if (typeof v === 'string') out.push(v)
  else if (Array.isArray(v)) v.forEach((x) => texts(x, out))
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => texts(x, out))
  return out
}

/** The text of the last user turn of an Anthropic or Responses request. */
function lastUserText(body) {
  const msgs = body.messages ?? body.input ?? []
  const users = Array.isArray(msgs) ? msgs.filter((m) => m && m.role === 'user') : []
  const last = users[users.length - 1]
  return last ? texts(last.content).join('\n') : ''
}

function anthropicText(res, text, model) {
  sse(res, [
    ['message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  ])
}

function anthropicTool(res, command, model) {
  sse(res, [
    ['message_start', { type: 'message_start', message: { id: 'msg_tool', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 10, output_tokens: 1 } } }],
    ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_fake1', name: 'Bash', input: {} } }],
    ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify({ command, description: 'wait' }) } }],
    ['content_block_stop', { type: 'content_block_stop', index: 0 }],
    ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 5 } }],
    ['message_stop', { type: 'message_stop' }],
  ])
}

function responsesEvents(items) {
  const ev = [['response.created', { type: 'response.created', response: { id: 'resp_fake' } }]]
  for (const item of items) {
    ev.push(['response.output_item.added', { type: 'response.output_item.added', item }])
    ev.push(['response.output_item.done', { type: 'response.output_item.done', item }])
  }
  ev.push(['response.completed', { type: 'response.completed', response: { id: 'resp_fake', usage: { input_tokens: 10, input_tokens_details: null, output_tokens: 5, output_tokens_details: null, total_tokens: 15 } } }])
  return ev
}

/** The shell-like function tool Codex offers, and arguments that run `command`. */
function codexShellCall(body, command) {
  const tools = (body.tools ?? []).map((t) => t.name ?? t.type)
  if (tools.includes('shell_command')) return { name: 'shell_command', arguments: JSON.stringify({ command }) }
  if (tools.includes('exec_command')) return { name: 'exec_command', arguments: JSON.stringify({ cmd: command }) }
  return { name: 'shell', arguments: JSON.stringify({ command: ['bash', '-lc', command] }) }
}

export async function startFakeModel({ hangCommand }) {
  const requests = []
  const proxied = []
  const server = http.createServer((req, res) => {
    if (!req.url.startsWith('/')) {
      proxied.push(`${req.method} ${req.url}`)
      res.writeHead(403).end()
      return
    }
    let raw = ''
    req.on('data', (d) => (raw += d))
    req.on('end', () => {
      let body = {}
      try {
        body = raw ? JSON.parse(raw) : {}
      } catch {}
      const path = req.url.split('?')[0]
      const text = lastUserText(body)
      requests.push({ method: req.method, path, text, body })
      const hasToolResult = JSON.stringify(body.messages ?? body.input ?? []).match(/tool_result|function_call_output/)
      if (path.endsWith('/messages') && req.method === 'POST') {
        const model = body.model ?? 'claude-fake'
        if (/APIERR/.test(text)) {
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'fake model: this request is refused' } }))
          return
        }
        if (/HANG/.test(text) && !hasToolResult) return anthropicTool(res, hangCommand, model)
        return anthropicText(res, /REMEMBER/.test(JSON.stringify(body.messages ?? [])) ? 'I remember the earlier turn.' : 'Hello from the fake model.', model)
      }
      if (path.endsWith('/responses') && req.method === 'POST') {
        if (/APIERR/.test(text)) {
          res.writeHead(400, { 'content-type': 'application/json' })
          res.end(JSON.stringify({ error: { type: 'invalid_request_error', code: 'invalid_request', message: 'fake model: this request is refused' } }))
          return
        }
        if (/HANG/.test(text) && !hasToolResult) {
          const call = codexShellCall(body, hangCommand)
          return sse(res, responsesEvents([{ type: 'function_call', id: 'fc_fake1', call_id: 'call_fake1', ...call }]))
        }
        const remembered = /REMEMBER/.test(JSON.stringify(body.input ?? []))
        return sse(res, responsesEvents([{ type: 'message', role: 'assistant', id: 'msg_fake', content: [{ type: 'output_text', text: remembered ? 'I remember the earlier turn.' : 'Hello from the fake model.' }] }]))
      }
      if (path.endsWith('/models')) {
        res.writeHead(200, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ data: [], models: [] }))
        return
      }
      res.writeHead(404, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'fake model: no such endpoint' } }))
    })
  })
  server.on('connect', (req, socket) => {
    proxied.push(`CONNECT ${req.url}`)
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n')
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    proxied,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r) }),
  }
}
