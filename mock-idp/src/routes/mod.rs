//! The HTTP shell: the axum router, the protocol endpoints, and CORS for browser clients.
//!
//! Handlers are thin: they parse the request by hand (so a malformed request gets an OAuth error,
//! never a framework rejection), call [`Idp`], and shape the answer.

mod authorize;
mod client_auth;
mod form;
mod introspect;
pub(crate) mod jwks;
mod metadata;
pub(crate) mod page;
mod recorder;
mod register;
mod revoke;
mod token;
mod userinfo;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::control;
use crate::idp::Idp;
use crate::oauth_error::OAuthError;
use crate::respond::{NO_STORE, json_bytes, method_not_allowed, not_found};

/// Whether an application serves the `/` page and the demo callback (what `MockIdp::start`
/// serves; an application embedded in another server does not), and the other issuers the root
/// page links to.
pub(crate) type Pages = Option<std::sync::Arc<[page::Sibling]>>;

/// The whole application: protocol endpoints (recorded, faultable), the control API, and the
/// page when `pages` says so.
pub(crate) fn app(idp: Idp, pages: Pages) -> Router {
    let layer = recorder::RecordLayer::new(idp.clone(), pages.is_some());
    unrecorded(idp, pages).layer(layer)
}

/// What a server with only the root issuer serves: the recorder wrapped around the whole router
/// once, rather than layered onto each route as [`app`] does. axum clones a layered route's
/// service (an allocation) on every call, so this shape saves two allocations per request on the
/// busiest endpoints. What is recorded is the same; the answers the recorder makes itself (a
/// CORS preflight, an injected fault) now pass outside axum's top-level route future, so they do
/// not get the `Allow` header axum adds to a 405 (hyper still drops bodies of HEAD answers).
/// The recorder also answers a plain `GET /jwks` itself, the same answer as the route's, without
/// the router (see `RecordLayer::answering_jwks`).
pub(crate) fn served_alone(idp: Idp) -> recorder::Recorder<Router> {
    use tower_layer::Layer as _;
    recorder::RecordLayer::new(idp.clone(), true)
        .answering_jwks()
        .layer(unrecorded(idp, Some([].into())))
}

/// The routes of one issuer, without the recorder.
fn unrecorded(idp: Idp, pages: Pages) -> Router {
    let mut router = Router::new();
    if let Some(siblings) = pages {
        router = router
            .route(
                "/",
                get(move |state: axum::extract::State<Idp>, request: Request| {
                    page::home(state, siblings.clone(), request)
                }),
            )
            .route("/_demo/callback", get(page::demo_callback))
            .route("/favicon.ico", get(page::favicon));
    }
    router
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::discovery),
        )
        .route(
            "/.well-known/openid-configuration",
            get(metadata::discovery_oidc),
        )
        .route("/jwks", get(jwks::jwks))
        .route(
            "/authorize",
            get(authorize::authorize).post(authorize::authorize),
        )
        .route("/authorize/decision", post(authorize::decision))
        .route("/register", post(register::register))
        .route(
            "/register/{client_id}",
            get(register::read_client).delete(register::delete_client),
        )
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/token", post(token::token))
        .route("/introspect", post(introspect::introspect))
        .route("/revoke", post(revoke::revoke))
        .route("/healthz", get(health))
        .route("/downstream", get(downstream).post(downstream))
        .route("/documents/{name}", get(document))
        .nest("/_control", control::router())
        .method_not_allowed_fallback(method_not_allowed)
        // Unknown paths, including `/_probe/*` (the jku/x5u targets), answer 404 `not_found`.
        .fallback(not_found)
        .with_state(idp)
}

/// The root issuer's application plus one nested application per other issuer, with the
/// RFC 8414 path-inserted discovery URLs (`/.well-known/oauth-authorization-server/{name}`) and
/// the OIDC ones both served (OIDC appends: `/{name}/.well-known/openid-configuration`, which the
/// nested application answers; some clients also try the inserted form).
pub(crate) fn app_with_issuers(root: Idp, others: &[(String, Idp)]) -> Router {
    let siblings: Vec<page::Sibling> = others
        .iter()
        .map(|(name, idp)| (name.clone(), idp.issuer().to_owned()))
        .collect();
    let mut router = app(root, Some(siblings.into()));
    for (name, idp) in others {
        router = router.merge(nested(name, idp, true));
    }
    router
}

/// One issuer's application under `/{name}`, with its path-inserted discovery URLs (and its own
/// page when `pages`).
pub(crate) fn nested(name: &str, idp: &Idp, pages: bool) -> Router {
    let router = Router::new();
    {
        let for_metadata = idp.clone();
        let metadata = move || {
            let idp = for_metadata.clone();
            async move { metadata::discovery(axum::extract::State(idp)).await }
        };
        router
            .route(
                &format!("/.well-known/oauth-authorization-server/{name}"),
                get(metadata.clone()).layer(middleware::from_fn(cors)),
            )
            .route(
                &format!("/.well-known/openid-configuration/{name}"),
                get(metadata).layer(middleware::from_fn(cors)),
            )
            .nest(
                &format!("/{name}"),
                app(idp.clone(), pages.then(|| [].into())),
            )
            .merge(root_only_metadata(idp))
    }
}

/// The `metadata-root-only` defect: the nested issuer's document at the origin's root.
fn root_only_metadata(idp: &Idp) -> Router {
    if idp
        .authz()
        .settings
        .has(crate::authz::AsDefect::MetadataRootOnly)
    {
        Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(metadata::discovery_at_root),
            )
            .with_state(idp.clone())
    } else {
        Router::new()
    }
}

/// CORS for the few routes outside an issuer's application (the recorder does the same for
/// everything inside one, so the busy endpoints pay for one middleware, not two).
async fn cors(request: Request, next: middleware::Next) -> Response {
    if let Some(answer) = preflight(&request) {
        return answer;
    }
    let mut response = next.run(request).await;
    allow_any_origin(&mut response);
    response
}

/// CORS for browser-based clients (MCP Inspector and web apps): any origin may call the
/// protocol endpoints, with whatever headers it asks for (a client may send `DPoP`, a tracing
/// header or anything else its library adds; a fixed list would make the browser refuse it
/// before the IdP ever sees the request). A preflight gets its answer here.
pub(crate) fn preflight(request: &Request) -> Option<Response> {
    let is_preflight = request.method() == axum::http::Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !is_preflight {
        return None;
    }
    {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
        );
        let asked: Vec<&str> = request
            .headers()
            .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .collect();
        if let Ok(value) = HeaderValue::from_str(&asked.join(", "))
            && !asked.is_empty()
        {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        // The answer depends on the headers asked for: a cache must not reuse it for others.
        headers.insert(
            header::VARY,
            HeaderValue::from_static("Access-Control-Request-Headers"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        allow_any_origin(&mut response);
        Some(response)
    }
}

/// `Access-Control-Allow-Origin: *`.
pub(crate) fn allow_any_origin(response: &mut Response) {
    // A handler whose answer headers come ready (`GET /jwks`) has it already: looking costs less
    // than replacing it.
    response
        .headers_mut()
        .entry(header::ACCESS_CONTROL_ALLOW_ORIGIN)
        .or_insert_with(|| HeaderValue::from_static("*"));
}

/// `GET /documents/{name}`: a document hosted through the control API, as configured (status,
/// type, `Location`, `Cache-Control`); 404 `not_found` for an unknown name.
async fn document(
    axum::extract::State(idp): axum::extract::State<Idp>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let Some(doc) = idp.hosted_document(&name) else {
        return OAuthError::not_found().into_response();
    };
    let status = doc
        .status
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, doc.body).into_response();
    let headers = response.headers_mut();
    let content_type = doc.content_type.as_deref().unwrap_or("application/json");
    for (name, value) in [
        (header::CONTENT_TYPE, Some(content_type)),
        (header::LOCATION, doc.location.as_deref()),
        (header::CACHE_CONTROL, doc.cache_control.as_deref()),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(name, value);
        }
    }
    // Whatever a test hosts here is data for programs, never a page that runs on the IdP's
    // origin: no type sniffing, and a sandbox without scripts, forms or same-origin access.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    response
}

/// `/downstream`: an API an MCP server may call on behalf of its users. It accepts anything and
/// says so; the request log keeps what arrived (the harness reads which credential was sent).
async fn downstream() -> Response {
    json_bytes(
        StatusCode::OK,
        Bytes::from_static(br#"{"downstream":"ok"}"#),
        NO_STORE,
    )
}

async fn health() -> Response {
    json_bytes(
        StatusCode::OK,
        Bytes::from_static(br#"{"status":"ok"}"#),
        NO_STORE,
    )
}
