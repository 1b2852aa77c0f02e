DROP TABLE cert_generation;
