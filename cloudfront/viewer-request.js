// ZoneCast viewer-request function (CloudFront Functions, runtime cloudfront-js-2.0).
// DESIGN.md §2: the AZ host becomes a path prefix, so the path alone is both the cache key
// and the S3 key, and the two AZ timelines can never mix in a cache.
//   media-hls-az1.<domain>/<app>/<stream>/42.ts -> /az1/<app>/<stream>/42.ts
//   media-hls-az2.<domain>/...                  -> /az2/...
//   anything else (media-hls.<domain>, dxxxx.cloudfront.net path mode) -> unchanged
// It also copies the viewer's Host into x-zonecast-viewer-host: CloudFront cannot forward
// Host to a Lambda function URL, and the playlist function renders absolute URLs from it.
// A viewer-supplied x-zonecast-viewer-host is always overwritten or removed.
//
// Single source of truth: template.yaml embeds this file verbatim (ViewerRequestFunction);
// cloudfront/viewer-request.test.mjs and deploy/test_template.py fail if the two differ.
// Keep it free of import/export/require: CloudFront runs it as a plain script.

var VIEWER_HOST_HEADER = 'x-zonecast-viewer-host';

function azForHost(host) {
  var name = host.toLowerCase();
  // Drop a port: "media-hls-az1.localhost:8080". A bracketed IPv6 literal has no AZ anyway.
  var colon = name.lastIndexOf(':');
  if (colon !== -1 && name.indexOf(']') === -1) {
    name = name.substring(0, colon);
  }
  var dot = name.indexOf('.');
  var label = dot === -1 ? name : name.substring(0, dot);
  if (label === 'media-hls-az1') {
    return 'az1';
  }
  if (label === 'media-hls-az2') {
    return 'az2';
  }
  return null;
}

function handler(event) {
  var request = event.request;
  var headers = request.headers;
  var host = headers.host && headers.host.value ? headers.host.value : '';
  var az = azForHost(host);
  if (az !== null) {
    request.uri = '/' + az + request.uri;
  }
  if (host !== '') {
    headers[VIEWER_HOST_HEADER] = { value: host };
  } else {
    delete headers[VIEWER_HOST_HEADER];
  }
  return request;
}
