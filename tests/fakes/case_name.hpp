#pragma once

// The name of a table-driven test case from its `label`: letters and
// digits kept, everything else '_', as GoogleTest requires of names.

#include <gtest/gtest.h>

#include <cctype>
#include <string>

namespace roam::fakes {

template <class Case>
std::string case_name(const ::testing::TestParamInfo<Case>& param) {
  std::string name;
  for (char c : std::string(param.param.label)) {
    name += std::isalnum(static_cast<unsigned char>(c)) != 0 ? c : '_';
  }
  return name;
}

}  // namespace roam::fakes
