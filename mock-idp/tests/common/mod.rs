//! What the HTTP test files share: a loopback client and the answers it reads.
// Each test file uses a different part of this module.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::{Client, StatusCode};
use serde_json::Value;

/// A client for 127.0.0.1: no proxy, no redirects followed (a redirect is an answer to check),
/// and a deadline.
pub fn http() -> Client {
    Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// An answer, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: header::HeaderName) -> &str {
        self.headers
            .get(&name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// The query of the `Location` header.
    pub fn location_query(&self) -> HashMap<String, String> {
        let location = self.header(header::LOCATION);
        let url = url::Url::parse(location).unwrap_or_else(|_| panic!("location {location:?}"));
        url.query_pairs().into_owned().collect()
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request is answered");
    Reply {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.bytes().await.expect("body").to_vec(),
    }
}
