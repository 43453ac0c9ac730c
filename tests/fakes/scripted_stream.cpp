#include "fakes/scripted_stream.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "util/error.hpp"

namespace roam::fakes {

ScriptedStream::ScriptedStream(std::vector<Step> steps, std::size_t chunk)
    : m_steps(std::move(steps)), m_chunk(chunk) {}

void ScriptedStream::consume_client_steps() {
  while (m_index < m_steps.size() && m_steps[m_index].kind == Step::Kind::Client &&
         !m_unmatched.empty()) {
    const std::string& expected = m_steps[m_index].data;
    std::size_t want = expected.size() - m_offset;
    std::size_t take = std::min(want, m_unmatched.size());
    std::string_view got(m_unmatched.data(), take);
    std::string_view exp(expected.data() + m_offset, take);
    if (got != exp) {
      ADD_FAILURE() << "client wrote unexpected bytes at step " << m_index
                    << "\n  expected: " << expected.substr(m_offset)
                    << "\n  got:      " << m_unmatched;
      throw util::Error(util::Scope::Account, "scripted stream: unexpected client data");
    }
    m_unmatched.erase(0, take);
    m_offset += take;
    if (m_offset == expected.size()) {
      ++m_index;
      m_offset = 0;
    }
  }
  if (!m_unmatched.empty()) {
    ADD_FAILURE() << "client wrote bytes the script does not expect here (step " << m_index
                  << "): " << m_unmatched;
    throw util::Error(util::Scope::Account, "scripted stream: unexpected client data");
  }
}

std::size_t ScriptedStream::read_some(char* buf, std::size_t len) {
  if (m_index < m_steps.size() && m_steps[m_index].kind == Step::Kind::Client) {
    ADD_FAILURE() << "client reads, but the script expects it to write first: "
                  << m_steps[m_index].data.substr(m_offset);
    throw util::Error(util::Scope::Account, "scripted stream: client waits for data out of turn");
  }
  if (m_index < m_steps.size() && m_steps[m_index].kind == Step::Kind::Wake) {
    ADD_FAILURE() << "client reads, but the script expects it to wait for its wake descriptor";
    throw util::Error(util::Scope::Account, "scripted stream: client reads instead of waiting");
  }
  if (m_index >= m_steps.size() || m_steps[m_index].kind == Step::Kind::Close) {
    if (m_index < m_steps.size()) {
      ++m_index;
    }
    return 0;
  }
  const std::string& data = m_steps[m_index].data;
  std::size_t n = std::min(len, data.size() - m_offset);
  if (m_chunk > 0) {
    n = std::min(n, m_chunk);
  }
  std::memcpy(buf, data.data() + m_offset, n);
  m_offset += n;
  if (m_offset == data.size()) {
    ++m_index;
    m_offset = 0;
  }
  return n;
}

net::Stream::Ready ScriptedStream::wait_readable(std::chrono::milliseconds, int) {
  ++m_waits;
  if (m_index >= m_steps.size()) {
    return Ready::Data;
  }
  switch (m_steps[m_index].kind) {
    case Step::Kind::Wake:
      ++m_index;
      return Ready::Woken;
    case Step::Kind::Client:
      return Ready::TimedOut;
    default:
      return Ready::Data;
  }
}

void ScriptedStream::write_all(std::string_view data) {
  m_written += data;
  m_unmatched += data;
  consume_client_steps();
}

void ScriptedStream::start_tls(const net::TlsOptions&) {
  m_tls = true;
  ++m_tls_starts;
}

bool ScriptedStream::finished() const {
  return m_index >= m_steps.size();
}

}  // namespace roam::fakes
