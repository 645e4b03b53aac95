//! Reading a framed record: its Python traceback frames and its final exception.

use regex::Regex;
use std::sync::LazyLock;

/// One `File "...", line N, in FUNC` frame, with the code line under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The file path as printed.
    pub file: String,
    /// The line number.
    pub line: u32,
    /// The function name.
    pub function: String,
    /// The source line Python printed under the frame, trimmed; empty when there is none.
    pub code: String,
}

impl Frame {
    /// Whether the frame is application code: not an installed package (`site-packages`,
    /// `dist-packages`), not the standard library (`.../lib/python3.X/...`), not a frozen or
    /// synthetic module (`<frozen ...>`, `<string>`).
    pub fn is_application(&self) -> bool {
        let f = &self.file;
        let has = |a: &str, b: &str| f.contains(a) || f.contains(b);
        !(f.starts_with('<')
            || has("/site-packages/", "\\site-packages\\")
            || has("/dist-packages/", "\\dist-packages\\")
            || is_stdlib(f)
            || is_foreign_library(f, &self.function))
    }
}

/// A frame of another runtime's library: Node's `node_modules` and internals, Ruby's gems
/// and standard library, the JVM's and .NET's runtime and the frameworks their package
/// managers install (named by package, as their frames carry no directory).
fn is_foreign_library(file: &str, function: &str) -> bool {
    const JVM: [&str; 14] = [
        "java.",
        "javax.",
        "jdk.",
        "sun.",
        "com.sun.",
        "kotlin.",
        "kotlinx.",
        "scala.",
        "org.springframework.",
        "org.apache.",
        "io.netty.",
        "com.fasterxml.",
        "org.hibernate.",
        "reactor.",
    ];
    let jvm = [".java", ".kt", ".scala"].iter().any(|e| file.ends_with(e));
    // Go: the toolchain's sources (GOROOT) and the module cache.
    let go = file.ends_with(".go")
        && (file.contains("/go/src/") && !file.contains("/go/src/github.com/")
            || file.contains("/pkg/mod/")
            || function.starts_with("runtime."));
    file.contains("/node_modules/")
        || file.starts_with("node:")
        || file.starts_with("internal/")
        || file.contains("/gems/")
        || file.contains("/lib/ruby/")
        || (jvm && JVM.iter().any(|p| function.starts_with(p)))
        || function.starts_with("System.")
        || function.starts_with("Microsoft.")
        || go
}

/// A Go panic's frames, innermost first: the panicking goroutine's function lines, each with
/// the `\t/path/file.go:12 +0x1d` line under it.
fn go_frames(lines: &[&str]) -> Vec<Frame> {
    let mut frames = Vec::new();
    let mut function: Option<&str> = None;
    let mut goroutines = 0;
    for l in lines {
        if l.starts_with("goroutine ") && l.trim_end().ends_with("]:") {
            goroutines += 1;
            if goroutines > 1 {
                break;
            }
            continue;
        }
        if goroutines == 0 {
            continue;
        }
        if !l.starts_with([' ', '\t']) {
            // `pkg.f(args)`: the name is all before the last parenthesized group.
            let t = l.trim_end();
            let mut depth = 0;
            let mut open = None;
            for (i, c) in t.char_indices().rev() {
                match c {
                    ')' => depth += 1,
                    '(' => {
                        depth -= 1;
                        if depth == 0 {
                            open = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            function = open.map(|i| &t[..i]).filter(|f| !f.is_empty());
            continue;
        }
        let t = l.trim();
        let place = t.split(' ').next().unwrap_or(t);
        if let (Some(func), Some((file, n))) = (function.take(), place.rsplit_once(':')) {
            if let Ok(n) = n.parse::<u32>() {
                frames.push(Frame {
                    file: file.to_string(),
                    line: n,
                    function: func.to_string(),
                    code: String::new(),
                });
            }
        }
    }
    frames
}

/// A frame line of another runtime, innermost first as they print them:
/// - JVM: `at com.example.Svc.total(Svc.java:88)` (a `~[app.jar]` suffix allowed);
/// - Node.js: `at getUser (/app/src/users.js:14:22)`, `at /app/src/routes.js:40:5`;
/// - .NET: `at App.Svc.Total() in /app/Svc.cs:line 42`;
/// - Ruby: `from /app/lib/x.rb:12:in 'run'` (and the first line, `/app/x.rb:3:in 'f': ...`).
fn parse_foreign_frame(line: &str) -> Option<Frame> {
    let t = line.trim_start();
    let frame = |file: &str, line: u32, function: &str| {
        (!file.is_empty() && line > 0).then(|| Frame {
            file: file.to_string(),
            line,
            function: function.to_string(),
            code: String::new(),
        })
    };
    let number = |s: &str| -> Option<u32> {
        let d = s.bytes().take_while(u8::is_ascii_digit).count();
        s[..d].parse().ok()
    };
    if let Some(rest) = t.strip_prefix("at ") {
        // .NET: `FUNC(ARGS) in FILE:line N`.
        if let Some((func, place)) = rest.rsplit_once(" in ") {
            if let Some((file, n)) = place.rsplit_once(":line ") {
                return frame(file, number(n)?, func);
            }
        }
        // Node.js: `FUNC (FILE:LINE:COL)` or `FILE:LINE:COL`.
        let (func, place) = match rest.strip_suffix(')').and_then(|r| r.rsplit_once(" (")) {
            Some((func, place)) => (func, place),
            None if !rest.contains('(') => ("<anonymous>", rest),
            None => ("", ""),
        };
        if let Some((head, _col)) = place.rsplit_once(':') {
            if let Some((file, n)) = head.rsplit_once(':') {
                if let Some(n) = number(n).filter(|_| n.bytes().all(|b| b.is_ascii_digit())) {
                    return frame(file, n, func);
                }
            }
        }
        // JVM: `FUNC(FILE:LINE)`, maybe followed by ` ~[...]`.
        let open = rest.find('(')?;
        let close = open + rest[open..].find(')')?;
        let (file, n) = rest[open + 1..close].rsplit_once(':')?;
        return frame(file, number(n)?, &rest[..open]);
    }
    // Ruby: `[from ]FILE:LINE:in 'FUNC'` (or a backquote before the name).
    let r = t.strip_prefix("from ").unwrap_or(t);
    let at = r.find(":in ")?;
    let (file, n) = r[..at].rsplit_once(':')?;
    let func = r[at + 4..].trim_start_matches(['`', '\'']);
    let func = &func[..func.find('\'')?];
    frame(file, number(n)?, func)
}

/// Ruby's first line: `FILE:LINE:in 'FUNC': MESSAGE (TYPE)`; its type and message.
fn ruby_exception(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    let rest = t.strip_suffix(')')?;
    let (head, ty) = rest.rsplit_once(" (")?;
    if !ty.starts_with(|c: char| c.is_ascii_uppercase())
        || !ty
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == ':' || c == '_')
    {
        return None;
    }
    let at = head.find(":in ")?;
    let msg = head[at..].split_once("': ").map(|(_, m)| m)?;
    Some((ty.to_string(), msg.to_string()))
}

/// `.../lib/python3.11/...`, `.../lib/pypy...`, or Windows' `...\Lib\...`.
fn is_stdlib(f: &str) -> bool {
    f.match_indices("/lib/python")
        .any(|(i, m)| f[i + m.len()..].starts_with(|c: char| c.is_ascii_digit()))
        || f.contains("/lib/pypy")
        || f.contains("\\Lib\\")
}

/// Parses `  File "PATH", line N, in FUNC` (exception-group gutters `|`, `+`, `-` allowed).
/// Hand-written: it runs on every traceback line, where a capturing regex cost a quarter of
/// the time of an incident-heavy log.
fn parse_frame(line: &str) -> Option<(&str, u32, &str)> {
    let t = line.trim_start_matches([' ', '\t', '|', '+', '-']);
    let rest = t.strip_prefix("File \"")?;
    let q = rest.find("\", line ")?;
    let file = &rest[..q];
    let rest = &rest[q + 8..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let lineno = rest[..digits].parse().ok()?;
    let func = rest[digits..].strip_prefix(", in ")?.trim_end();
    if file.is_empty() || func.is_empty() {
        return None;
    }
    Some((file, lineno, func))
}

static EXC_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<type>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)(?::\s?(?P<msg>.*))?$",
    )
    .unwrap()
});
static BARE_EXC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<type>(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt|Warning|Timeout|Disconnect|Cancelled|Refused|Reset|Group))(?:: (?P<msg>.*))?$").unwrap()
});

/// The rest of a JVM's uncaught exception line after its thread
/// (`Exception in thread "main" java.lang.IllegalStateException: ...`).
fn jvm_uncaught(line: &str) -> Option<&str> {
    let rest = line.trim_start().strip_prefix("Exception in thread \"")?;
    let end = rest.find("\" ")?;
    Some(&rest[end + 2..])
}

/// The parts of a record the classifier needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shape {
    /// Lines that are not traceback internals: headers, messages, the exception lines.
    pub message: Vec<String>,
    /// The raised exception's line and the lines continuing its message.
    pub exception: Vec<String>,
    /// The raised exception's type as printed, e.g. `asyncpg.exceptions.ConnectionDoesNotExistError`.
    pub exception_type: Option<String>,
    /// The raised exception's message (first line).
    pub exception_message: Option<String>,
    /// The frames of the last traceback, outermost first (as Python prints them).
    pub frames: Vec<Frame>,
}

impl Shape {
    /// The innermost application frame of the raised exception's traceback.
    pub fn app_frame(&self) -> Option<&Frame> {
        self.frames.iter().rev().find(|f| f.is_application())
    }
}

/// Reads a record's lines (already framed, prefix-stripped, lossy UTF-8).
pub fn shape<S: AsRef<str>>(lines: &[S]) -> Shape {
    let mut expanded: Vec<String> = Vec::new();
    let flat = lines.iter().any(|l| is_flattened(l.as_ref()));
    if flat {
        for l in lines {
            match unflatten(l.as_ref()) {
                Some(v) => expanded.extend(v),
                None => expanded.push(l.as_ref().to_string()),
            }
        }
    }
    let lines: Vec<&str> = if flat {
        expanded.iter().map(String::as_str).collect()
    } else {
        lines.iter().map(AsRef::as_ref).collect()
    };
    let mut sh = Shape::default();
    let mut in_tb = false;
    let mut in_exc = false;
    // Inside an exception group (Python 3.11+), whose lines carry `|` and `+-` gutters.
    let mut group = false;
    for &raw in &lines {
        let mut line = raw.trim_end_matches(['\r', '\n']);
        if group {
            let t = line.trim_start();
            if t.starts_with("+-") || t.starts_with("+--") {
                continue;
            }
            if let Some(rest) = t.strip_prefix("| ").or_else(|| (t == "|").then_some("")) {
                line = rest;
            }
        }
        let t = line.trim_start();
        if t.starts_with("+ Exception Group Traceback (most recent call last):") {
            group = true;
        }
        if t.starts_with("Traceback (most recent call last):")
            || t.starts_with("+ Exception Group Traceback (most recent call last):")
        {
            in_tb = true;
            in_exc = false;
            sh.frames.clear();
            sh.exception.clear();
            continue;
        }
        if t.starts_with("During handling of the above exception")
            || t.starts_with("The above exception was the direct cause")
        {
            in_exc = false;
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if in_tb {
            if indented || t.is_empty() {
                if let Some((file, lineno, func)) = parse_frame(line) {
                    sh.frames.push(Frame {
                        file: file.to_string(),
                        line: lineno,
                        function: func.to_string(),
                        code: String::new(),
                    });
                } else if let Some(f) = sh.frames.last_mut() {
                    if f.code.is_empty()
                        && !t.is_empty()
                        && !t.starts_with('^')
                        && !t.starts_with('~')
                    {
                        f.code = t.trim_start_matches(['|', ' ']).to_string();
                    }
                }
                continue;
            }
            in_tb = false;
            in_exc = true;
            sh.exception.clear();
            sh.exception.push(line.to_string());
            sh.message.push(line.to_string());
            if let Some(c) = EXC_LINE.captures(line) {
                sh.exception_type = Some(c["type"].to_string());
                sh.exception_message = c.name("msg").map(|m| m.as_str().to_string());
            } else {
                sh.exception_type = None;
                sh.exception_message = Some(line.to_string());
            }
            continue;
        }
        if in_exc && !t.is_empty() {
            sh.exception.push(line.to_string());
        }
        if !t.is_empty() {
            sh.message.push(line.to_string());
        }
    }
    let python = !sh.frames.is_empty();
    if !python {
        // Another runtime's trace: the thrown exception's frames, up to its cause (JVM's
        // `Caused by:`, .NET's inner exception), outermost first as Python prints them.
        let mut seen = false;
        let mut go = false;
        let first = lines.first().map_or("", |l| l.trim_start());
        if let Some(msg) = first
            .strip_prefix("panic: ")
            .or_else(|| first.strip_prefix("fatal error: "))
        {
            sh.exception_type = Some(first[..first.len() - msg.len() - 2].to_string());
            sh.exception_message = Some(msg.to_string());
            sh.exception = vec![first.to_string()];
            sh.frames = go_frames(&lines);
            go = true;
        }
        for l in lines.iter().filter(|_| !go) {
            let t = l.trim_start();
            if seen && (t.starts_with("Caused by:") || t.starts_with("--- End of inner")) {
                break;
            }
            if let Some(f) = parse_foreign_frame(l) {
                if sh.frames.is_empty() {
                    if let Some((ty, msg)) = ruby_exception(l) {
                        sh.exception_type = Some(ty);
                        sh.exception_message = Some(msg);
                        sh.exception = vec![l.to_string()];
                    }
                }
                sh.frames.push(f);
                seen = true;
            }
        }
        sh.frames.reverse();
    }
    if sh.exception_type.is_none() && !python {
        // No traceback: a bare exception line (`KeyError: 'x'`) or a log line ending in one
        // (`... - ERROR - RuntimeError: boom`) still names an exception.
        for m in &sh.message {
            if let Some((ty, msg)) = bare_exception(m) {
                sh.exception_type = Some(ty);
                sh.exception_message = Some(msg);
                sh.exception = vec![m.clone()];
                break;
            }
        }
    }
    sh
}

const TB_HEADER: &str = "Traceback (most recent call last):";

/// A traceback printed on one line: its header with more text after it (newlines replaced
/// by spaces, or written as `\\n`).
fn is_flattened(line: &str) -> bool {
    line.find(TB_HEADER)
        .is_some_and(|i| !line[i + TB_HEADER.len()..].trim().is_empty())
}

static FLAT_FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>[^\s\\]+)"#).unwrap()
});
static FLAT_EXC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|\s)(?P<exc>(?:[A-Za-z_][A-Za-z0-9_]*\.)*[A-Z][A-Za-z0-9_]*(?:Error|Exception|Exit|Interrupt|Warning|Timeout|Disconnect|Cancelled|Refused|Reset|Group|Exceeded)(?::\s|:?$))").unwrap()
});

/// The lines of a flattened traceback, as Python printed them.
fn unflatten(line: &str) -> Option<Vec<String>> {
    let at = line.find(TB_HEADER)?;
    let body = &line[at + TB_HEADER.len()..];
    if body.trim().is_empty() {
        return None;
    }
    let mut out = Vec::new();
    if !line[..at].trim().is_empty() {
        out.push(line[..at].trim_end().to_string());
    }
    out.push(TB_HEADER.to_string());
    if body.contains("\\n") {
        // Escaped newlines: the lines are all there.
        out.extend(
            body.split("\\n")
                .map(|l| l.trim_end_matches("\\r").to_string())
                .filter(|l| !l.trim().is_empty()),
        );
        return Some(out);
    }
    let frames: Vec<_> = FLAT_FRAME.captures_iter(body).collect();
    if frames.is_empty() {
        out.push(body.trim().to_string());
        return Some(out);
    }
    for (k, c) in frames.iter().enumerate() {
        let m = c.get(0).expect("whole match");
        out.push(format!("  {}", m.as_str()));
        let end = frames
            .get(k + 1)
            .map_or(body.len(), |n| n.get(0).expect("whole match").start());
        let mut tail = &body[m.end()..end];
        if k + 1 == frames.len() {
            // After the last frame: its code line, then the exception line.
            if let Some(e) = FLAT_EXC.captures(tail).and_then(|e| e.name("exc")) {
                let exc = tail[e.start()..].trim();
                tail = &tail[..e.start()];
                if !tail.trim().is_empty() {
                    out.push(format!("    {}", tail.trim()));
                }
                out.push(exc.to_string());
                return Some(out);
            }
        }
        if !tail.trim().is_empty() {
            out.push(format!("    {}", tail.trim()));
        }
    }
    Some(out)
}

/// Finds `Type: message` at the start of a line, or after a ` - ` / `: ` log separator, or
/// pytest's `E   `.
fn bare_exception(line: &str) -> Option<(String, String)> {
    if let Some(rest) = jvm_uncaught(line) {
        // Java prints a type without a message as it is.
        let c = BARE_EXC.captures(rest.trim())?;
        let msg = c.name("msg").map_or("", |m| m.as_str());
        return Some((c["type"].to_string(), msg.to_string()));
    }
    let mut starts = vec![0];
    if let Some(rest) = line.strip_prefix("E ") {
        starts.push(line.len() - rest.trim_start().len());
    }
    starts.extend(line.match_indices(" - ").map(|(i, _)| i + 3));
    starts.extend(line.match_indices(": ").map(|(i, _)| i + 2));
    starts.extend(line.match_indices("] ").map(|(i, _)| i + 2));
    for s in starts {
        // Elsewhere a type needs its message: a word ending in `Error` is not enough.
        if let Some(c) = BARE_EXC.captures(line[s..].trim_start()) {
            if let Some(msg) = c.name("msg") {
                return Some((c["type"].to_string(), msg.as_str().to_string()));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const TB: &[&str] = &[
        "Exception in ASGI application",
        "Traceback (most recent call last):",
        "  File \"/opt/render/project/src/backend/app/api/v1/pam.py\", line 412, in websocket_endpoint",
        "    await websocket.send_json(message)",
        "  File \"/opt/render/project/src/.venv/lib/python3.11/site-packages/starlette/websockets.py\", line 198, in send_json",
        "    await self.send({\"type\": \"websocket.send\", \"text\": text})",
        "RuntimeError: WebSocket is not connected. Need to call \"accept\" first.",
    ];

    #[test]
    fn frames_exception_and_app_frame() {
        let sh = shape(TB);
        assert_eq!(sh.frames.len(), 2);
        assert_eq!(sh.exception_type.as_deref(), Some("RuntimeError"));
        let f = sh.app_frame().unwrap();
        assert_eq!((f.line, f.function.as_str()), (412, "websocket_endpoint"));
        assert_eq!(f.code, "await websocket.send_json(message)");
        assert_eq!(sh.message, vec![TB[0].to_string(), TB[6].to_string()]);
    }

    #[test]
    fn chained_takes_the_last_exception_and_its_frames() {
        let lines = [
            "Traceback (most recent call last):",
            "  File \"/app/a.py\", line 1, in f",
            "KeyError: 'x'",
            "",
            "The above exception was the direct cause of the following exception:",
            "",
            "Traceback (most recent call last):",
            "  File \"/app/b.py\", line 2, in g",
            "    raise ValueError(1)",
            "ValueError: 1",
        ];
        let sh = shape(&lines);
        assert_eq!(sh.exception_type.as_deref(), Some("ValueError"));
        assert_eq!(sh.frames.len(), 1);
        assert_eq!(sh.app_frame().unwrap().file, "/app/b.py");
    }

    #[test]
    fn stdlib_and_packages_are_not_application() {
        let f = |p: &str| Frame {
            file: p.into(),
            line: 1,
            function: "f".into(),
            code: String::new(),
        };
        assert!(!f("/usr/lib/python3.11/asyncio/tasks.py").is_application());
        assert!(!f("/usr/local/lib/python3.12/site-packages/x.py").is_application());
        assert!(!f("/usr/lib/python3/dist-packages/x.py").is_application());
        assert!(!f("<frozen importlib._bootstrap>").is_application());
        assert!(!f("C:\\Python311\\Lib\\asyncio\\tasks.py").is_application());
        assert!(f("/app/main.py").is_application());
        assert!(f("/home/u/lib/python-tools/app.py").is_application());
    }

    #[test]
    fn frame_lines() {
        assert_eq!(
            parse_frame("  File \"/a b/c.py\", line 12, in <module>"),
            Some(("/a b/c.py", 12, "<module>"))
        );
        assert_eq!(
            parse_frame("    |   File \"/x.py\", line 3, in f  "),
            Some(("/x.py", 3, "f"))
        );
        assert_eq!(parse_frame("  File \"/x.py\", line , in f"), None);
        assert_eq!(parse_frame("    x = 1"), None);
    }

    #[test]
    fn other_runtimes_traces_give_their_innermost_application_frame() {
        let app = |lines: &[&str]| {
            let sh = shape(lines);
            let f = sh.app_frame().cloned();
            (sh.exception_type, f.map(|f| (f.file, f.line, f.function)))
        };
        let jvm = app(&[
            "java.lang.IllegalStateException: order 42 has no lines",
            "\tat java.util.Objects.requireNonNull(Objects.java:233)",
            "\tat com.example.orders.OrderService.total(OrderService.java:88) ~[app.jar:1.0]",
            "\tat com.example.orders.OrderController.get(OrderController.java:31)",
            "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)",
            "Caused by: java.lang.NullPointerException: lines is null",
            "\tat com.example.orders.Order.lines(Order.java:12)",
            "\t... 3 more",
        ]);
        assert_eq!(
            jvm,
            (
                Some("java.lang.IllegalStateException".into()),
                Some((
                    "OrderService.java".into(),
                    88,
                    "com.example.orders.OrderService.total".into()
                ))
            )
        );
        let node = app(&[
            "TypeError: Cannot read properties of undefined (reading 'id')",
            "    at Object.get (/app/node_modules/lodash/get.js:10:3)",
            "    at getUser (/app/src/users.js:14:22)",
            "    at /app/src/routes.js:40:5",
            "    at Layer.handle [as handle_request] (/app/node_modules/express/lib/router/layer.js:95:5)",
            "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
        ]);
        assert_eq!(
            node,
            (
                Some("TypeError".into()),
                Some(("/app/src/users.js".into(), 14, "getUser".into()))
            )
        );
        let dotnet = app(&[
            "System.InvalidOperationException: Sequence contains no elements",
            "   at System.Linq.ThrowHelper.ThrowNoElementsException()",
            "   at Shop.Orders.OrderService.Total(Int32 id) in /src/Shop/Orders/OrderService.cs:line 42",
            "   at Shop.Api.OrdersController.Get(Int32 id) in /src/Shop/Api/OrdersController.cs:line 17",
        ]);
        assert_eq!(
            dotnet,
            (
                Some("System.InvalidOperationException".into()),
                Some((
                    "/src/Shop/Orders/OrderService.cs".into(),
                    42,
                    "Shop.Orders.OrderService.Total(Int32 id)".into()
                ))
            )
        );
        let ruby = app(&[
            "/app/lib/orders.rb:12:in 'total': undefined method 'sum' for nil (NoMethodError)",
            "\tfrom /usr/local/bundle/gems/rack-3.0.8/lib/rack/builder.rb:4:in 'call'",
            "\tfrom /app/app.rb:3:in '<main>'",
        ]);
        assert_eq!(
            ruby,
            (
                Some("NoMethodError".into()),
                Some(("/app/lib/orders.rb".into(), 12, "total".into()))
            )
        );
        let go = app(&[
            "panic: runtime error: index out of range [3] with length 3",
            "",
            "goroutine 1 [running]:",
            "runtime.panicIndex(...)",
            "\t/usr/local/go/src/runtime/panic.go:114 +0x1d",
            "main.lookup(...)",
            "\t/app/cmd/server/main.go:12",
            "github.com/go-chi/chi/v5.(*Mux).ServeHTTP(0xc0000a0000, {0x6c6f50, 0xc0000b2000})",
            "\t/go/pkg/mod/github.com/go-chi/chi/v5@v5.0.10/mux.go:90 +0x2f",
            "",
            "goroutine 7 [IO wait]:",
            "main.other(0x1)",
            "\t/app/cmd/server/other.go:3 +0x1",
        ]);
        assert_eq!(
            go,
            (
                Some("panic".into()),
                Some(("/app/cmd/server/main.go".into(), 12, "main.lookup".into()))
            )
        );
        // Library frames only: no application frame. Text that reads `at ...` is no frame.
        let lib = app(&[
            "java.io.IOException: closed",
            "\tat java.io.FileInputStream.read(FileInputStream.java:12)",
        ]);
        assert_eq!(lib.1, None);
        for line in [
            "retrying at 10:00 (after 3 attempts)",
            "at least 3 workers (of 4) are busy",
            "the run stopped at step 3",
        ] {
            assert_eq!(parse_foreign_frame(line), None, "{line}");
        }
    }

    #[test]
    fn jvm_uncaught_exceptions_with_space_indented_frames() {
        // As a console prints it: eight spaces before `at`, a Kotlin lambda's frame without
        // a line number (skipped), then its frame with one.
        let sh = shape(&[
            "Exception in thread \"Thread-7\" java.lang.IllegalStateException: queue closed",
            "        at com.example.shop.Queue$poll$1.invoke(Queue.kt)",
            "        at com.example.shop.Queue$poll$1.invoke(Queue.kt:58)",
            "        at kotlin.concurrent.ThreadsKt$thread$thread$1.run(Thread.kt:30)",
        ]);
        assert_eq!(
            sh.exception_type.as_deref(),
            Some("java.lang.IllegalStateException")
        );
        let f = sh.app_frame().expect("an application frame");
        assert_eq!((f.file.as_str(), f.line), ("Queue.kt", 58));
        // Only runtime frames: an exception without an application location.
        let sh = shape(&[
            "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space",
            "        at java.base/java.util.Arrays.copyOf(Arrays.java:3512)",
        ]);
        assert_eq!(
            sh.exception_type.as_deref(),
            Some("java.lang.OutOfMemoryError")
        );
        assert!(sh.app_frame().is_none());
    }

    #[test]
    fn bare_exception_lines() {
        let sh = shape(&["2025-01-10 10:00:00,000 - app - ERROR - KeyError: 'user_id'"]);
        assert_eq!(sh.exception_type.as_deref(), Some("KeyError"));
        let sh = shape(&["2025-01-10 10:00:00,000 - app - INFO - started: all good"]);
        assert_eq!(sh.exception_type, None);
        // The JVM's uncaught exception, with or without a message; a type name without a
        // message elsewhere is no exception, nor is a thread that is not quoted.
        let sh = shape(&["Exception in thread \"main\" java.lang.NullPointerException"]);
        assert_eq!(
            sh.exception_type.as_deref(),
            Some("java.lang.NullPointerException")
        );
        let sh = shape(&["Exception in thread \"w-1\" java.io.IOException: closed"]);
        assert_eq!(sh.exception_message.as_deref(), Some("closed"));
        let sh = shape(&["2025-01-10 10:00:00,000 - app - INFO - retry: TimeoutError"]);
        assert_eq!(sh.exception_type, None);
        let sh = shape(&["Exception in thread pool: IOError"]);
        assert_eq!(sh.exception_type, None);
    }

    #[test]
    fn validation_error_message_continues() {
        let sh = shape(&[
            "Traceback (most recent call last):",
            "  File \"/app/config.py\", line 9, in <module>",
            "pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings",
            "DATABASE_URL",
            "  Field required [type=missing, input_value={}, input_type=dict]",
        ]);
        assert_eq!(sh.exception.len(), 3);
        assert_eq!(sh.exception[1], "DATABASE_URL");
    }
}
