# temporary: a second LLM on cuda in one process
source scripts/gpu/common.sh > /dev/null 2>&1
export PYTHONPATH=$ROOT/build-gpu/python SHARDLM_BUILD_DIR=$ROOT/build-gpu
M=$ROOT/.fixtures/models/tiny-opt
PYB=$(python3 -c "import pybind11; print('-Dpybind11_DIR=' + pybind11.get_cmake_dir())"); cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSHARDLM_WITH_PYTHON=ON -DPython_EXECUTABLE=$(command -v python3) $PYB > /tmp/b.log 2>&1; ninja -C build-gpu -j16 _shardlm shardlm test_cuda >> /tmp/b.log 2>&1; echo "build rc=$?"
S="from shardlm import LLM; a = LLM('$M', device='cuda', dtype='float32'); print('first ok', flush=True); b = LLM('$M', device='cuda', dtype='float32'); print('second ok', flush=True)"
echo "--- plain"; timeout 100 python3 -X faulthandler -c "$S" 2>&1 | grep -v "^Extension\|^  File \"/opt" | tail -6
echo "--- eager"; timeout 100 python3 -c "${S//float32\'/float32\', enforce_eager=True}" 2>&1 | tail -3
echo "--- cuda-gdb"; timeout 150 cuda-gdb -q -batch -ex run -ex bt --args python3 -c "$S" 2>&1 | grep -vE "^\[(New|Thread|Detaching)" | tail -30
