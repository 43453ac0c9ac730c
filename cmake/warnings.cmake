# Warnings every target gets; CI turns them into errors with ROAM_WERROR.
add_library(roam_warnings INTERFACE)
target_compile_options(roam_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(ROAM_WERROR)
  target_compile_options(roam_warnings INTERFACE -Werror)
endif()
if(ROAM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
