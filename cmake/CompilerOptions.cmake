# Warnings and sanitizers, applied per target.
function(connpool_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra $<$<BOOL:${CONNPOOL_WERROR}>:-Werror>)
  if(CONNPOOL_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${CONNPOOL_SANITIZE} -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=${CONNPOOL_SANITIZE})
  endif()
endfunction()
