# Written by raftd-bench. The data files are next to this script;
# restyle it and run "gnuplot plot.gp" in this directory to
# redraw the SVG and PNG pictures.
set datafile separator ','
set datafile columnheaders
set grid
set style data linespoints
set pointsize 1.2
set title 'etcd: qget, 64-byte values, 1000 keys' noenhanced
do for [fmt in "svg png"] {
  if (fmt eq "svg") {
    set terminal svg size 960,640 dynamic font 'sans,12' background rgb 'white'
  } else {
    set terminal pngcairo size 960,640 font 'sans,11' background rgb 'white'
  }
  set output 'latency-throughput.'.fmt
  set key top left box opaque noenhanced
  set xlabel 'throughput (operations/s)'
  set ylabel 'latency (ms)'
  unset logscale
  set logscale y
  set xrange [0:*]
  set yrange [*:*]
  plot \
    'runs.csv' using 'throughput_ops_s':'mean_client_means_ms' lc 1 pt 7 lw 2 title 'etcd mean', \
    '' using 'throughput_ops_s':'p99_ms' lc 1 pt 6 dt 2 lw 2 title 'etcd p99', \
    '' using 'throughput_ops_s':'p99_ms':(sprintf('%d', column('clients'))) with labels offset 0,0.9 tc lt 1 notitle
  set output 'cdf.'.fmt
  set key bottom right box opaque noenhanced
  set xlabel 'latency (ms)'
  set ylabel 'fraction of requests with latency <= x'
  unset logscale
  set logscale x
  set xrange [*:*]
  set yrange [0:1]
  plot \
    'cdf-c0001.csv' using 'latency_ms':'fraction' with lines lc 1 dt 1 lw 2 title 'etcd 1 client', \
    'cdf-c0004.csv' using 'latency_ms':'fraction' with lines lc 2 dt 1 lw 2 title 'etcd 4 clients', \
    'cdf-c0016.csv' using 'latency_ms':'fraction' with lines lc 3 dt 1 lw 2 title 'etcd 16 clients', \
    'cdf-c0064.csv' using 'latency_ms':'fraction' with lines lc 4 dt 1 lw 2 title 'etcd 64 clients'
  set output 'cdf-tail.'.fmt
  set key top right box opaque noenhanced
  set ylabel 'fraction of requests slower than x'
  set logscale xy
  set yrange [*:1]
  set format y '%g'
  plot \
    'cdf-c0001.csv' using 'latency_ms':(1 - column('fraction')) with lines lc 1 dt 1 lw 2 title 'etcd 1 client', \
    'cdf-c0004.csv' using 'latency_ms':(1 - column('fraction')) with lines lc 2 dt 1 lw 2 title 'etcd 4 clients', \
    'cdf-c0016.csv' using 'latency_ms':(1 - column('fraction')) with lines lc 3 dt 1 lw 2 title 'etcd 16 clients', \
    'cdf-c0064.csv' using 'latency_ms':(1 - column('fraction')) with lines lc 4 dt 1 lw 2 title 'etcd 64 clients'
  set format y
  unset output
}
