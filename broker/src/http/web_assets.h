#pragma once

#include <span>
#include <string_view>

namespace taskmill::broker {

// One file of the dashboard, compiled into the broker (broker/cmake/embed_web.cmake).
struct WebAsset {
  std::string_view path;          // "/index.html", "/app.js"
  std::string_view content_type;  // "text/html; charset=utf-8"
  std::string_view body;
};

// Every file of broker/web/, in name order.
std::span<const WebAsset> WebAssets();

}  // namespace taskmill::broker
