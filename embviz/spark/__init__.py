"""embviz on Apache Spark: the session, and scoring users against items past one machine.

- :mod:`~embviz.spark.session`: find Java and pyspark, check the master, start the session
  (also used by :mod:`embviz.train.engine_spark`, which trains word2vec on Spark).
- :mod:`~embviz.spark.recommend`: ``embviz recommend --engine spark``: each partition scores
  its block of users with embviz's own kernel (:mod:`embviz.search.recommender`), so the
  answers are those of one machine (with ``--index``, the cache's FAISS index, shipped).
- :mod:`~embviz.spark.similar`: ``embviz neighbors --all --engine spark``, the similar-items
  table, by ranges of query rows.

pyspark is imported inside the functions (``pip install 'embviz[spark]'``).
"""
