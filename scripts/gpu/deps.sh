# Sourced ON THE GPU MACHINE: unpacks the carried .deb packages the machine lacks (Gloo with its hiredis/ibverbs
# runtime, PCRE2 headers, SentencePiece, pkgconf) into $PREFIX and points the build and the loader at them.
# Expects DEBS (folder of .deb files, fetched here with `apt-get download`), PREFIX, and a `say` function.
if compgen -G "$DEBS/*.deb" > /dev/null; then
  for f in "$DEBS"/*.deb; do dpkg -x "$f" "$PREFIX"; done
  # Debian's Gloo export and .pc files name /usr; point them at the prefix.
  sed -i "s|\"/usr/lib/libgloo|\"$PREFIX/usr/lib/libgloo|g" "$PREFIX"/usr/share/cmake/Gloo/GlooTargets-*.cmake 2>/dev/null
  for pc in "$PREFIX"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc "$PREFIX"/usr/lib/pkgconfig/*.pc; do
    [[ -f $pc ]] && sed -i "s|^prefix=/usr\$|prefix=$PREFIX/usr|" "$pc"
  done
  LIBS=$PREFIX/usr/lib/x86_64-linux-gnu:$PREFIX/usr/lib
  export CMAKE_PREFIX_PATH=$PREFIX/usr${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  export CPATH=$PREFIX/usr/include${CPATH:+:$CPATH}
  export LIBRARY_PATH=$LIBS${LIBRARY_PATH:+:$LIBRARY_PATH}
  export LD_LIBRARY_PATH=$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$PREFIX/usr/lib/x86_64-linux-gnu/pkgconfig:$PREFIX/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  command -v pkg-config > /dev/null || export PATH=$PATH:$PREFIX/usr/bin
  say "unpacked $(ls "$DEBS"/*.deb | wc -l) packages into $PREFIX"
else
  say "no .deb files in $DEBS: using the machine's packages"
fi

