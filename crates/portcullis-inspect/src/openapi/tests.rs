//! Unit tests of the policy: matching, parameters, bodies, documents.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use http::{Method, Request, StatusCode};
use portcullis_core::{Ctx, Deny, Policy, RequestView, Step, Verdict};

use super::{OpenApiError, OpenApiOptions, OpenApiPolicy};

/// An OpenAPI 3.0 document exercising every rule.
const USERS_30: &str = r##"
openapi: 3.0.3
info: { title: users, version: "1" }
paths:
  /users:
    get:
      parameters:
        - { name: limit, in: query, schema: { type: integer, format: int32, minimum: 1, maximum: 100 } }
        - { name: status, in: query, schema: { type: string, enum: [active, banned] } }
        - { name: q, in: query, schema: { type: string, minLength: 2, maxLength: 5, pattern: "^[a-z]+$" } }
        - { name: tag, in: query, schema: { type: array, items: { type: integer } } }
        - { name: ids, in: query, explode: false, schema: { type: array, items: { type: string, format: uuid } } }
        - { name: flags, in: query, style: pipeDelimited, explode: false, schema: { type: array, items: { type: boolean } } }
        - { name: filter, in: query, style: deepObject, schema: { type: object, properties: { age: { type: integer } } } }
        - { name: since, in: query, schema: { type: string, format: date-time } }
        - { name: day, in: query, schema: { type: string, format: date } }
        - { name: email, in: query, schema: { type: string, format: email } }
        - { name: big, in: query, schema: { type: integer, format: int32 } }
        - { name: X-Tenant, in: header, required: true, schema: { type: integer, minimum: 1 } }
        - { name: session, in: cookie, schema: { type: string, minLength: 4 } }
        - { name: Authorization, in: header, required: true, schema: { type: string } }
    post:
      requestBody: { $ref: "#/components/requestBodies/NewUser" }
  /users/me:
    get: {}
  /users/{id}:
    parameters:
      - $ref: "#/components/parameters/UserId"
    get: {}
    put:
      requestBody:
        content:
          application/merge-patch+json:
            schema: { $ref: "#/components/schemas/User" }
    delete: {}
  /files/{name}.{ext}:
    get:
      parameters:
        - { name: name, in: path, required: true, schema: { type: string, maxLength: 8 } }
        - { name: ext, in: path, required: true, schema: { type: string, enum: [txt, pdf] } }
components:
  parameters:
    UserId: { name: id, in: path, required: true, schema: { type: string, format: uuid } }
  requestBodies:
    NewUser:
      required: true
      content:
        application/json:
          schema: { $ref: "#/components/schemas/NewUser" }
  schemas:
    NewUser:
      type: object
      additionalProperties: false
      required: [name]
      properties:
        name: { type: string, minLength: 1 }
        nickname: { type: string, nullable: true }
        age: { type: integer, minimum: 0, exclusiveMinimum: true }
        address: { $ref: "#/components/schemas/Address" }
    Address:
      type: object
      additionalProperties: false
      properties:
        city: { type: string }
    User:
      type: object
      additionalProperties: false
      required: [id, name]
      properties:
        id: { type: string, readOnly: true }
        name: { type: string }
"##;

/// The same ideas in OpenAPI 3.1 JSON.
const ITEMS_31: &str = r##"{
  "openapi": "3.1.0",
  "info": {"title": "items", "version": "1"},
  "paths": {
    "/items/{id}": {
      "put": {
        "parameters": [{"name": "id", "in": "path", "required": true,
                        "schema": {"type": "integer", "format": "int64", "exclusiveMinimum": 0}}],
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/$defs/Item"}}}}
      }
    }
  },
  "$defs": {
    "Item": {"type": "object", "additionalProperties": false, "required": ["label"],
             "properties": {"label": {"type": ["string", "null"]}, "price": {"type": "number", "exclusiveMinimum": 0}}}
  }
}"##;

fn policy(document: &str) -> OpenApiPolicy {
    OpenApiPolicy::compile(document, OpenApiOptions::default()).unwrap()
}

fn cx() -> Ctx {
    let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
    Ctx::new("test".into(), ip, ip, false)
}

fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut builder = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(()).unwrap().into_parts().0
}

/// The denial `on_request` answers with, if any.
fn denial(policy: &OpenApiPolicy, method: &str, uri: &str, headers: &[(&str, &str)]) -> Option<Deny> {
    let mut req = head(method, uri, headers);
    match policy.on_request(&mut req, &mut cx()) {
        Step::Done(Ok(Verdict::Continue)) => None,
        Step::Done(Ok(Verdict::Deny(deny))) => Some(deny),
        Step::Done(Err(e)) => panic!("policy failed: {e}"),
        Step::Wait(_) => panic!("the policy never waits"),
    }
}

/// `(status, reason)` of the denial, or `None` when the head is accepted.
fn answer(policy: &OpenApiPolicy, method: &str, uri: &str, headers: &[(&str, &str)]) -> Option<(u16, &'static str)> {
    denial(policy, method, uri, headers).map(|d| (d.status.as_u16(), d.reason))
}

/// Runs a whole request with `body` (head check, then the inspector).
fn send(
    policy: &OpenApiPolicy,
    method: &str,
    uri: &str,
    content_type: &str,
    body: &str,
) -> Option<(u16, &'static str)> {
    let length = body.len().to_string();
    let headers = [("content-type", content_type), ("content-length", length.as_str())];
    if let Some(deny) = denial(policy, method, uri, &headers) {
        return Some((deny.status.as_u16(), deny.reason));
    }
    let req = head(method, uri, &headers);
    let mut inspector = policy.body_inspector(&req, &cx())?;
    let result = inspector.feed(body.as_bytes()).and_then(|()| inspector.finish(body.as_bytes()));
    result.err().map(|d| (d.status.as_u16(), d.reason))
}

const TENANT: [(&str, &str); 1] = [("x-tenant", "7")];
const PARAM: Option<(u16, &str)> = Some((400, "inspect.openapi.parameter"));
const BODY: Option<(u16, &str)> = Some((400, "inspect.openapi.body"));

#[test]
fn concrete_paths_win_over_templates() {
    let p = policy(USERS_30);
    // `me` is no uuid: it is accepted only because /users/me wins.
    assert_eq!(answer(&p, "GET", "/users/me", &[]), None);
    assert_eq!(answer(&p, "GET", "/users/9b2d0c52-4c43-4f0b-9c61-3e1f5b8a8f0e", &[]), None);
    assert_eq!(answer(&p, "GET", "/users/42", &[]), PARAM, "the template's uuid rule applies");
    assert_eq!(answer(&p, "GET", "/files/report.pdf", &[]), None);
    assert_eq!(answer(&p, "GET", "/files/report.exe", &[]), PARAM);
    assert_eq!(answer(&p, "GET", "/files/much-too-long.txt", &[]), PARAM);
}

#[test]
fn undeclared_paths_are_404_and_methods_405_with_allow() {
    let p = policy(USERS_30);
    for path in ["/admin", "/users/me/keys", "/", "/users/"] {
        assert_eq!(answer(&p, "GET", path, &[]), Some((404, "inspect.openapi.path")), "{path}");
    }
    let deny = denial(&p, "PATCH", "/users/9b2d0c52-4c43-4f0b-9c61-3e1f5b8a8f0e", &[]).unwrap();
    assert_eq!((deny.status, deny.reason), (StatusCode::METHOD_NOT_ALLOWED, "inspect.openapi.method"));
    assert_eq!(deny.allow.unwrap(), "GET, HEAD, PUT, DELETE");
    assert_eq!(denial(&p, "DELETE", "/users", &TENANT).unwrap().allow.unwrap(), "GET, HEAD, POST");
    assert_eq!(answer(&p, "HEAD", "/users/me", &[]), None, "GET implies HEAD");
}

#[test]
fn the_path_is_matched_normalized() {
    let p = policy(USERS_30);
    assert_eq!(answer(&p, "GET", "/users/./x/../me", &[]), None);
    assert_eq!(answer(&p, "GET", "//users//me", &[]), None);
}

#[test]
fn base_path_is_stripped() {
    let options = OpenApiOptions { base_path: Some("/v1/".into()), ..OpenApiOptions::default() };
    let p = OpenApiPolicy::compile(USERS_30, options).unwrap();
    assert_eq!(answer(&p, "GET", "/v1/users/me", &[]), None);
    assert_eq!(answer(&p, "GET", "/users/me", &[]), Some((404, "inspect.openapi.path")));
    assert_eq!(answer(&p, "GET", "/v1users/me", &[]), Some((404, "inspect.openapi.path")));
}

#[test]
fn query_types_bounds_and_enums() {
    let p = policy(USERS_30);
    let get = |query: &str| answer(&p, "GET", &format!("/users?{query}"), &TENANT);
    assert_eq!(get("limit=10&status=active"), None);
    for bad in ["limit=abc", "limit=0", "limit=101", "limit=1.5", "limit=", "status=admin", "status=ACTIVE"] {
        assert_eq!(get(bad), PARAM, "{bad}");
    }
    assert_eq!(get("big=2147483647"), None);
    assert_eq!(get("big=2147483648"), PARAM, "int32 range");
    assert_eq!(get("limit=5&limit=6"), PARAM, "a single value given twice is pollution");
}

#[test]
fn query_lengths_and_patterns() {
    let p = policy(USERS_30);
    let get = |query: &str| answer(&p, "GET", &format!("/users?{query}"), &TENANT);
    assert_eq!(get("q=abc"), None);
    assert_eq!(get("q=%61%62"), None, "percent-decoded before checking");
    for bad in ["q=a", "q=abcdef", "q=ab1", "q=a+b", "q=%ZZ"] {
        assert_eq!(get(bad), PARAM, "{bad}");
    }
}

#[test]
fn query_formats() {
    let p = policy(USERS_30);
    let get = |query: &str| answer(&p, "GET", &format!("/users?{query}"), &TENANT);
    assert_eq!(get("since=2026-01-02T03:04:05Z&day=2026-02-28&email=a%40b.example"), None);
    for bad in ["since=yesterday", "since=2026-01-02", "day=2026-02-30", "day=02/28/2026", "email=nobody", "ids=1,2"] {
        assert_eq!(get(bad), PARAM, "{bad}");
    }
    assert_eq!(get("ids=9b2d0c52-4c43-4f0b-9c61-3e1f5b8a8f0e,0e8f0e3b-1c2d-4e5f-8a9b-0c1d2e3f4a5b"), None);
}

#[test]
fn query_arrays_and_objects() {
    let p = policy(USERS_30);
    let get = |query: &str| answer(&p, "GET", &format!("/users?{query}"), &TENANT);
    assert_eq!(get("tag=1&tag=2&tag=3"), None, "form, exploded: repeated");
    assert_eq!(get("tag=1&tag=x"), PARAM);
    assert_eq!(get("flags=true|false"), None);
    assert_eq!(get("flags=true|maybe"), PARAM);
    assert_eq!(get("filter[age]=30"), None);
    assert_eq!(get("filter[age]=old"), PARAM);
}

#[test]
fn unknown_query_parameters_are_allowed_unless_refused() {
    assert_eq!(answer(&policy(USERS_30), "GET", "/users?debug=1", &TENANT), None);
    let options = OpenApiOptions { reject_unknown_query: true, ..OpenApiOptions::default() };
    let strict = OpenApiPolicy::compile(USERS_30, options).unwrap();
    assert_eq!(answer(&strict, "GET", "/users?debug=1", &TENANT), PARAM);
    assert_eq!(answer(&strict, "GET", "/users?limit=1&filter[age]=3", &TENANT), None);
}

#[test]
fn header_and_cookie_parameters() {
    let p = policy(USERS_30);
    assert_eq!(answer(&p, "GET", "/users", &[]), PARAM, "required header missing");
    assert_eq!(answer(&p, "GET", "/users", &[("x-tenant", "0")]), PARAM);
    assert_eq!(answer(&p, "GET", "/users", &[("x-tenant", "two")]), PARAM);
    assert_eq!(answer(&p, "GET", "/users", &[("x-tenant", "1"), ("x-tenant", "2")]), PARAM);
    assert_eq!(answer(&p, "GET", "/users", &[("X-Tenant", " 3 ")]), None);
    assert_eq!(answer(&p, "GET", "/users", &[("x-tenant", "3"), ("cookie", "a=b; session=abcd")]), None);
    assert_eq!(answer(&p, "GET", "/users", &[("x-tenant", "3"), ("cookie", "session=abc")]), PARAM);
}

#[test]
fn bodies_follow_the_schema() {
    let p = policy(USERS_30);
    let post = |body: &str| send(&p, "POST", "/users", "application/json", body);
    assert_eq!(post(r#"{"name":"x","nickname":null,"age":3,"address":{"city":"Oslo"}}"#), None);
    assert_eq!(post(r#"{"name":"x","is_admin":true}"#), BODY, "mass assignment");
    assert_eq!(post(r#"{"name":"x","address":{"city":"Oslo","owner":"me"}}"#), BODY, "nested, through $ref");
    assert_eq!(post(r#"{"nickname":"x"}"#), BODY, "required property missing");
    assert_eq!(post(r#"{"name":1}"#), BODY);
    assert_eq!(post(r#"{"name":"x","age":0}"#), BODY, "3.0 boolean exclusiveMinimum");
    assert_eq!(post(r#"{"name":"x","name":"y"}"#), BODY, "duplicate keys");
    assert_eq!(post(r#"{"name":"x""#), BODY, "not JSON");
    assert_eq!(send(&p, "POST", "/users", "text/plain", "name=x"), Some((415, "inspect.openapi.body")));
    assert_eq!(send(&p, "POST", "/users", "application/json", ""), BODY, "required body is empty");
}

#[test]
fn read_only_properties_are_not_required_in_requests() {
    let p = policy(USERS_30);
    let id = "/users/9b2d0c52-4c43-4f0b-9c61-3e1f5b8a8f0e";
    assert_eq!(send(&p, "PUT", id, "application/merge-patch+json", r#"{"name":"x"}"#), None);
    assert_eq!(send(&p, "PUT", id, "application/json", r#"{"name":"x"}"#), Some((415, "inspect.openapi.body")));
    assert_eq!(send(&p, "PUT", id, "application/merge-patch+json", ""), None, "an optional body may be empty");
}

#[test]
fn a_body_where_none_is_declared_is_refused() {
    let p = policy(USERS_30);
    assert_eq!(send(&p, "DELETE", "/users/9b2d0c52-4c43-4f0b-9c61-3e1f5b8a8f0e", "application/json", "{}"), BODY);
    // Chunked: only the body tells.
    let req = head("DELETE", "/users/me", &[("transfer-encoding", "chunked")]);
    assert!(policy(USERS_30).body_inspector(&req, &cx()).is_none(), "DELETE /users/me is not declared");
    let req = head("GET", "/users/me", &[("transfer-encoding", "chunked")]);
    let mut inspector = p.body_inspector(&req, &cx()).unwrap();
    assert_eq!(inspector.feed(b"x").unwrap_err().reason, "inspect.openapi.body");
    assert!(inspector.finish(b"").is_ok(), "an empty chunked body is no body");
}

#[test]
fn openapi_31_documents() {
    let p = policy(ITEMS_31);
    let put = |id: &str, body: &str| send(&p, "PUT", &format!("/items/{id}"), "application/json", body);
    assert_eq!(put("5", r#"{"label":null,"price":1.5}"#), None);
    assert_eq!(put("0", r#"{"label":"a"}"#), PARAM);
    assert_eq!(put("9223372036854775808", r#"{"label":"a"}"#), PARAM, "int64 range");
    assert_eq!(put("5", r#"{"label":"a","price":0}"#), BODY);
    assert_eq!(put("5", r#"{"label":"a","owner":"me"}"#), BODY);
    assert_eq!(put("5", r#"{}"#), BODY);
}

fn refused(document: &str) -> OpenApiError {
    OpenApiPolicy::compile(document, OpenApiOptions::default()).unwrap_err()
}

const MINIMAL: &str = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get: {}\n";

#[test]
fn documents_that_are_not_openapi_3_are_refused() {
    assert!(matches!(refused("paths: [unclosed"), OpenApiError::Syntax(_)));
    assert!(refused("swagger: '2.0'\npaths: {}\n").to_string().contains("Swagger"));
    assert!(refused("openapi: 4.0.0\npaths: {}\n").to_string().contains("only 3.0.x and 3.1.x"));
    assert!(refused("openapi: 3.1\npaths: {}\n").to_string().contains("version string"));
    assert!(refused("info: {}\n").to_string().contains("no `openapi` field"));
    assert!(refused("openapi: 3.1.0\npaths: {}\n").to_string().contains("declares no paths"));
    assert!(OpenApiPolicy::compile(MINIMAL, OpenApiOptions::default()).is_ok());
}

#[test]
fn bad_references_schemas_and_templates_are_refused() {
    let with = |path_item: &str| format!("openapi: 3.0.3\ninfo: {{title: t, version: '1'}}\npaths:\n{path_item}");
    let remote = refused(&with("  /a:\n    get:\n      parameters: [{$ref: 'https://evil.example/p.yaml'}]\n"));
    assert!(matches!(remote, OpenApiError::RemoteRef { .. }), "{remote}");
    let other_file = refused(&with("  /a:\n    get:\n      parameters: [{$ref: 'common.yaml#/P'}]\n"));
    assert!(matches!(other_file, OpenApiError::RemoteRef { .. }));
    let dangling = refused(&with("  /a:\n    get:\n      parameters: [{$ref: '#/components/parameters/Nope'}]\n"));
    assert!(dangling.to_string().contains("points at nothing"), "{dangling}");
    let schema =
        refused(&with("  /a:\n    get:\n      parameters: [{name: limit, in: query, schema: {type: strin}}]\n"));
    assert!(schema.to_string().contains("invalid schema"), "{schema}");
    let template = refused(&with("  /a/{id:\n    get: {}\n"));
    assert!(template.to_string().contains("unclosed"), "{template}");
    let unbound = refused(&with("  /a:\n    get:\n      parameters: [{name: id, in: path, required: true}]\n"));
    assert!(unbound.to_string().contains("not in the template"), "{unbound}");
    let style = refused(&with("  /a/{id}:\n    get:\n      parameters: [{name: id, in: path, style: matrix}]\n"));
    assert!(style.to_string().contains("not supported"), "{style}");
    let header = refused(&with("  /a:\n    get:\n      parameters: [{name: 'x y', in: header}]\n"));
    assert!(header.to_string().contains("not a header name"), "{header}");
    let twice = refused(&with("  /a/{x}:\n    get: {}\n  /a/{y}:\n    get: {}\n"));
    assert!(twice.to_string().contains("identical"), "{twice}");
    let base = OpenApiPolicy::compile(MINIMAL, OpenApiOptions { base_path: Some("v1".into()), ..Default::default() });
    assert!(base.is_err());
}

#[test]
fn query_and_cookie_values_come_from_the_shared_view() {
    let p = policy(USERS_30);
    let mut req = head("GET", "/users?limit=5", &[("x-tenant", "3"), ("cookie", "session=abcd")]);
    let mut with_query = cx();
    assert!(matches!(p.on_request(&mut req, &mut with_query), Step::Done(Ok(Verdict::Continue))));
    let view = with_query.extensions.get::<Arc<RequestView>>().expect("the view is kept");
    assert_eq!(view.query().get_all("limit").collect::<Vec<_>>(), ["5"]);
    // Operations that read neither the query nor cookies never decode them.
    let mut without = cx();
    assert!(matches!(
        p.on_request(&mut head("GET", "/users/me?x=1", &[]), &mut without),
        Step::Done(Ok(Verdict::Continue))
    ));
    assert!(without.extensions.get::<Arc<RequestView>>().is_none());
}

#[test]
fn what_the_view_could_not_read_is_refused() {
    let p = policy(USERS_30);
    let many = vec!["debug=1"; portcullis_core::view::MAX_ENTRIES + 1].join("&");
    assert_eq!(answer(&p, "GET", &format!("/users?{many}"), &TENANT), PARAM, "more pairs than the view keeps");
    let mut req = head("GET", "/users", &TENANT);
    req.headers.append("cookie", http::HeaderValue::from_bytes(b"session=\xff\xff\xff\xff").unwrap());
    let mut cx = cx();
    let step = p.on_request(&mut req, &mut cx);
    let Step::Done(Ok(Verdict::Deny(deny))) = step else { panic!("a Cookie line that is not UTF-8 is accepted") };
    assert_eq!(deny.reason, "inspect.openapi.parameter");
}

/// Responses declared three ways, and a schema used both ways.
const RESPONSES: &str = r##"
openapi: 3.1.0
info: { title: accounts, version: "1" }
paths:
  /accounts/{id}:
    parameters:
      - { name: id, in: path, required: true, schema: { type: integer } }
    get:
      responses:
        200:
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Account" }
        4XX: { $ref: "#/components/responses/Problem" }
        "404":
          description: plain text
          content:
            text/plain: {}
        default:
          content:
            "*/*":
              schema: { type: object, required: [error] }
    put:
      requestBody:
        content:
          application/json:
            schema: { $ref: "#/components/schemas/Account" }
      responses:
        "204": { description: saved }
components:
  responses:
    Problem:
      content:
        application/problem+json:
          schema: { type: object, required: [title], properties: { title: { type: string } } }
  schemas:
    Account:
      type: object
      required: [id, owner, password]
      properties:
        id: { type: integer, readOnly: true }
        owner: { type: string }
        password: { type: string, writeOnly: true }
"##;

fn checking(document: &str) -> OpenApiPolicy {
    let options = OpenApiOptions { validate_responses: true, ..OpenApiOptions::default() };
    OpenApiPolicy::compile(document, options).unwrap()
}

fn response(status: u16, content_type: &str) -> http::response::Parts {
    let builder = http::Response::builder().status(status);
    let builder = if content_type.is_empty() { builder } else { builder.header("content-type", content_type) };
    builder.body(()).unwrap().into_parts().0
}

/// The context after `on_request` accepted `method` `uri`.
fn matched(policy: &OpenApiPolicy, method: &str, uri: &str) -> Ctx {
    let mut ctx = cx();
    let mut req = head(method, uri, &[]);
    assert!(matches!(policy.on_request(&mut req, &mut ctx), Step::Done(Ok(Verdict::Continue))), "{method} {uri}");
    ctx
}

/// Whether the document's schema for this response accepts `body`.
fn conforms(policy: &OpenApiPolicy, method: &str, status: u16, media: &str, body: &serde_json::Value) -> bool {
    let index = policy.compiled.paths.find("/accounts/1").unwrap().0.operation(&method.parse().unwrap()).unwrap();
    let media = crate::media::MediaType::parse(media).unwrap();
    let operation = &policy.compiled.operations[index];
    operation.responses.validator(StatusCode::from_u16(status).unwrap(), &media).unwrap().is_valid(body)
}

#[test]
fn responses_are_checked_only_when_asked_and_declared() {
    let p = checking(RESPONSES);
    let get = matched(&p, "GET", "/accounts/1");
    let rewriter = |status, media| p.response_rewriter(&response(status, media), &get);
    assert!(rewriter(200, "application/json").is_some());
    assert!(rewriter(201, "application/json; charset=utf-8").is_some(), "default");
    assert!(rewriter(409, "application/problem+json").is_some(), "4XX, through a $ref");
    assert!(rewriter(409, "application/json").is_none(), "4XX declares only problem+json");
    assert!(rewriter(404, "application/json").is_none(), "404 wins over 4XX and declares no JSON");
    assert!(rewriter(200, "text/html").is_none(), "not JSON");
    assert!(rewriter(200, "").is_none(), "no content type");
    let mut gzip = response(200, "application/json");
    gzip.headers.insert("content-encoding", http::HeaderValue::from_static("gzip"));
    assert!(p.response_rewriter(&gzip, &get).is_none(), "a coded body cannot be read");

    assert!(p.response_rewriter(&response(200, "application/json"), &cx()).is_none(), "no match");
    let head_cx = matched(&p, "HEAD", "/accounts/1");
    assert!(p.response_rewriter(&response(200, "application/json"), &head_cx).is_none(), "HEAD has no body");
    let put_cx = matched(&p, "PUT", "/accounts/1");
    assert!(p.response_rewriter(&response(204, "application/json"), &put_cx).is_none());
    assert!(p.response_rewriter(&response(200, "application/json"), &put_cx).is_none(), "undeclared status");

    // Each policy reads only the operation it matched itself.
    let other = checking(RESPONSES);
    let mut both = matched(&p, "GET", "/accounts/1");
    assert!(matches!(other.on_request(&mut head("GET", "/accounts/2", &[]), &mut both), Step::Done(Ok(_))));
    assert!(p.response_rewriter(&response(200, "application/json"), &both).is_none());
    assert!(other.response_rewriter(&response(200, "application/json"), &both).is_some());

    let off = policy(RESPONSES);
    let cx = matched(&off, "GET", "/accounts/1");
    assert!(off.response_rewriter(&response(200, "application/json"), &cx).is_none(), "off by default");
}

#[test]
fn a_response_that_does_not_match_is_reported_and_sent_unchanged() {
    let p = checking(RESPONSES);
    let cx = matched(&p, "GET", "/accounts/1");
    let mut rewriter = p.response_rewriter(&response(200, "application/json"), &cx).unwrap();
    for body in [&br#"{"id":1,"owner":"ada"}"#[..], br#"{"id":"one"}"#, b"not json", b""] {
        assert_eq!(rewriter.rewrite(body).unwrap(), None, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn response_schemas_require_read_only_and_not_write_only_properties() {
    let p = checking(RESPONSES);
    let json = "application/json";
    assert!(conforms(&p, "GET", 200, json, &serde_json::json!({"id": 1, "owner": "ada"})));
    assert!(!conforms(&p, "GET", 200, json, &serde_json::json!({"owner": "ada"})), "readOnly id is required");
    assert!(!conforms(&p, "GET", 200, json, &serde_json::json!({"id": "1", "owner": "ada"})));
    assert!(conforms(&p, "GET", 500, json, &serde_json::json!({"error": "x"})), "default");
    assert!(!conforms(&p, "GET", 500, json, &serde_json::json!({})));
    // Requests still follow the request rules with the same schema.
    let put = |body: &str| send(&p, "PUT", "/accounts/1", "application/json", body);
    assert_eq!(put(r#"{"owner":"ada","password":"pw"}"#), None);
    assert_eq!(put(r#"{"owner":"ada"}"#), BODY, "writeOnly password is required of requests");
}

#[test]
fn response_keys_are_checked_only_when_responses_are() {
    let doc =
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        ok: {}\n";
    assert!(OpenApiPolicy::compile(doc, OpenApiOptions::default()).is_ok(), "ignored when off");
    let options = OpenApiOptions { validate_responses: true, ..OpenApiOptions::default() };
    let error = OpenApiPolicy::compile(doc, options).unwrap_err();
    assert!(error.to_string().contains("is not a status code"), "{error}");
    let bad_schema = doc.replace("ok: {}", "'200': {content: {application/json: {schema: {type: strin}}}}");
    let options = OpenApiOptions { validate_responses: true, ..OpenApiOptions::default() };
    assert!(OpenApiPolicy::compile(&bad_schema, options).unwrap_err().to_string().contains("invalid schema"));
}
