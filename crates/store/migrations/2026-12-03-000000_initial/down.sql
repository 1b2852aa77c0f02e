DROP TABLE id_certs;
DROP TABLE server_keys;
DROP TABLE actors;
